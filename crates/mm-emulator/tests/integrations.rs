//! Slash commands and interactive buttons against a real HTTP endpoint the test runs.

mod common;

use common::{Integration, api, form_fields, http, seeded, url};
use mm_emulator::{Command, EmulatorError, NewCommand, NewPost, Post};
use serde_json::{Value, json};

#[tokio::test]
async fn slash_commands_post_the_documented_form_and_apply_the_response() {
    let s = seeded().await;
    let integration = Integration::start().await;
    let team = s.mm.team();
    let response = http()
        .post(url(&s.mm, "commands"))
        .bearer_auth(&s.bot_token)
        .json(&json!({"team_id": team.id, "trigger": "MSTeams", "method": "P", "url": integration.url,
                      "display_name": "Teams bridge", "auto_complete": true,
                      "auto_complete_desc": "Link/unlink Teams", "auto_complete_hint": "[connect|disconnect]"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    let command: Command = response.json().await.expect("command");
    assert_eq!(command.trigger, "msteams");
    assert_eq!(command.token.len(), 26);
    assert_eq!(command.creator_id, s.bot_id);
    let listed: Vec<Command> = api(&s.mm, &s.bot_token)
        .query(
            "GET",
            "commands",
            Some(&[("team_id", &team.id), ("custom_only", "true")]),
            None,
        )
        .await
        .expect("list");
    assert_eq!(listed, vec![command.clone()]);
    let duplicate = http()
        .post(url(&s.mm, "commands"))
        .bearer_auth(&s.bot_token)
        .json(&json!({"team_id": team.id, "trigger": "msteams", "method": "P", "url": integration.url}))
        .send()
        .await
        .expect("send");
    assert_eq!(duplicate.status(), 400);
    let body: Value = duplicate.json().await.expect("json");
    assert_eq!(body["id"], "api.command.duplicate_trigger.app_error");

    let dm = s.mm.direct_channel(&s.alice.id, &s.bot_id).expect("dm");
    integration.answer_json(
        json!({"response_type": "ephemeral", "text": "Open this link to connect",
                                   "goto_location": "https://login.example.com", "props": null}),
    );
    let outcome =
        s.mm.run_slash_command(&s.alice.id, &dm.id, "/msteams connect now")
            .await
            .expect("run");
    assert_eq!(outcome.response.goto_location, "https://login.example.com");
    assert_eq!(outcome.ephemeral.len(), 1);
    assert!(outcome.posts.is_empty());
    assert_eq!(
        s.mm.ephemeral_posts_for(&s.alice.id)[0].message,
        "Open this link to connect"
    );

    let requests = integration.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        request.headers["authorization"],
        format!("Token {}", command.token).as_str()
    );
    assert_eq!(request.headers["accept"], "application/json");
    let fields = form_fields(&request.body);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "channel_id",
            "channel_name",
            "command",
            "response_url",
            "team_domain",
            "team_id",
            "text",
            "token",
            "trigger_id",
            "user_id",
            "user_name"
        ]
    );
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .expect("field")
    };
    assert_eq!(field("channel_id"), dm.id);
    assert_eq!(field("channel_name"), dm.name);
    assert_eq!(field("command"), "/msteams");
    assert_eq!(field("text"), "connect now");
    assert_eq!(field("token"), command.token);
    assert_eq!(field("team_id"), team.id);
    assert_eq!(field("team_domain"), team.name);
    assert_eq!(field("user_id"), s.alice.id);
    assert_eq!(field("user_name"), "alice");
    assert!(!field("trigger_id").is_empty());
    let response_url = field("response_url");
    assert!(response_url.starts_with(&format!("{}hooks/commands/", s.mm.site_url())));

    // An in-channel answer becomes a post by the user, extra responses too.
    integration.answer_json(json!({"response_type": "in_channel", "text": "Connected",
        "props": {"teams_user": "alice@contoso.com"},
        "extra_responses": [{"text": "Only for you"}]}));
    let outcome =
        s.mm.run_slash_command(&s.alice.id, &dm.id, "/msteams status")
            .await
            .expect("run");
    assert_eq!(outcome.posts.len(), 1);
    assert_eq!(outcome.posts[0].user_id, s.alice.id);
    assert_eq!(outcome.posts[0].props["teams_user"], "alice@contoso.com");
    assert_eq!(outcome.ephemeral[0].message, "Only for you");
    assert_eq!(s.mm.channel_posts(&dm.id)[0].message, "Connected");

    // Clients run commands through the REST API as well; plain-text answers are ephemeral text.
    integration.answer(200, "text/plain", "plain words");
    let executed: Value = api(&s.mm, &s.alice_token)
        .post(
            "commands/execute",
            None,
            &json!({"channel_id": dm.id, "command": "/msteams help"}),
        )
        .await
        .expect("execute");
    assert_eq!(executed["text"], "plain words");
    assert_eq!(executed["response_type"], "");

    // response_url takes follow-ups.
    let follow_up = http()
        .post(&response_url)
        .json(&json!({"response_type": "in_channel", "text": "Later result"}))
        .send()
        .await
        .expect("send");
    assert_eq!(follow_up.status(), 200);
    assert_eq!(
        s.mm.channel_posts(&dm.id).last().expect("post").message,
        "Later result"
    );

    // Failures read as Mattermost shows them.
    integration.answer(500, "text/plain", "boom");
    let err =
        s.mm.run_slash_command(&s.alice.id, &dm.id, "/msteams connect")
            .await
            .expect_err("fails");
    assert!(
        matches!(&err, EmulatorError::CommandFailed { trigger, message }
            if trigger == "msteams" && message == "Command with a trigger of 'msteams' returned response 500."),
        "{err:?}"
    );
    let unreachable =
        s.mm.register_command(
            &s.admin.id,
            NewCommand::new("gone", "http://127.0.0.1:9/unreachable"),
        )
        .expect("register");
    assert_eq!(unreachable.method, "P");
    let err =
        s.mm.run_slash_command(&s.alice.id, &dm.id, "/gone")
            .await
            .expect_err("fails");
    assert_eq!(err.to_string(), "Command with a trigger of 'gone' failed.");
    let missing =
        s.mm.run_slash_command(&s.alice.id, &dm.id, "/nothing here")
            .await
            .expect_err("unknown");
    assert!(matches!(
        missing,
        EmulatorError::Rejected { status: 404, .. }
    ));
}

#[tokio::test]
async fn commands_are_replaced_in_place_keeping_id_token_and_creator() {
    let s = seeded().await;
    let team = s.mm.team();
    let command =
        s.mm.register_command(
            &s.admin.id,
            NewCommand {
                auto_complete_hint: "[old]".into(),
                username: "bridge".into(),
                ..NewCommand::new("msteams", "http://127.0.0.1:1/old")
            },
        )
        .expect("register");
    let put = |token: &str, id: &str, body: Value| {
        http()
            .put(url(&s.mm, &format!("commands/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };

    let response = put(
        &s.admin_token,
        &command.id,
        json!({"id": command.id, "team_id": team.id, "trigger": "MSTeams", "method": "P",
               "url": "http://127.0.0.1:1/new", "auto_complete": true, "auto_complete_hint": "[new]",
               "token": "forged", "creator_id": s.alice.id}),
    )
    .await
    .expect("send");
    assert_eq!(response.status(), 200);
    let updated: Command = response.json().await.expect("command");
    assert_eq!(updated.id, command.id);
    assert_eq!(updated.token, command.token);
    assert_eq!(updated.creator_id, s.admin.id);
    assert_eq!(updated.create_at, command.create_at);
    assert_eq!(updated.trigger, "msteams");
    assert_eq!(updated.url, "http://127.0.0.1:1/new");
    assert_eq!(updated.auto_complete_hint, "[new]");
    // The body is the whole command: what it leaves out is emptied.
    assert_eq!(updated.username, "");
    let listed: Vec<Command> = api(&s.mm, &s.admin_token)
        .query(
            "GET",
            "commands",
            Some(&[("team_id", &team.id), ("custom_only", "true")]),
            None,
        )
        .await
        .expect("list");
    assert_eq!(listed, vec![updated.clone()]);

    let whole = |id: &str, team_id: &str, trigger: &str| {
        json!({"id": id, "team_id": team_id, "trigger": trigger, "method": "P",
               "url": "http://127.0.0.1:1/new"})
    };
    let refusals = [
        // The id in the body must be the one in the path.
        (
            s.admin_token.as_str(),
            command.id.as_str(),
            whole("", &team.id, "msteams"),
            400,
            "api.context.invalid_body_param.app_error",
        ),
        (
            &s.admin_token,
            &command.id,
            whole(&command.id, "otherteamotherteamotherte", "msteams"),
            400,
            "api.command.team_mismatch.app_error",
        ),
        (
            &s.admin_token,
            &command.id,
            whole(&command.id, &team.id, "echo"),
            400,
            "api.command.duplicate_trigger.app_error",
        ),
        (
            &s.admin_token,
            &command.id,
            json!({"id": command.id, "team_id": team.id, "trigger": "msteams", "method": "X",
                   "url": "http://127.0.0.1:1/new"}),
            400,
            "model.command.is_valid.method.app_error",
        ),
        (
            &s.alice_token,
            &command.id,
            whole(&command.id, &team.id, "msteams"),
            403,
            "api.context.permissions.app_error",
        ),
        (
            &s.admin_token,
            "unknownunknownunknownunkn",
            whole("unknownunknownunknownunkn", &team.id, "msteams"),
            404,
            "api.command.get.app_error",
        ),
    ];
    for (token, id, body, status, error_id) in refusals {
        let response = put(token, id, body.clone()).await.expect("send");
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["id"], error_id, "{body}");
    }
}

#[tokio::test]
async fn get_commands_send_the_fields_in_the_query() {
    let s = seeded().await;
    let integration = Integration::start().await;
    s.mm.register_command(
        &s.admin.id,
        NewCommand {
            method: "G".into(),
            ..NewCommand::new("weather", &integration.url)
        },
    )
    .expect("register");
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    integration.answer_json(json!({"text": "sunny"}));
    s.mm.run_slash_command(&s.alice.id, &dm.id, "/weather toronto week")
        .await
        .expect("run");
    let request = &integration.requests()[0];
    assert_eq!(request.method, "GET");
    assert!(request.body.is_empty());
    let fields = form_fields(request.query.as_bytes());
    assert!(fields.contains(&("text".into(), "toronto week".into())));
    assert!(fields.contains(&("command".into(), "/weather".into())));
}

#[tokio::test]
async fn button_clicks_post_the_documented_body_and_apply_the_update() {
    let s = seeded().await;
    let integration = Integration::start().await;
    let dm = s.mm.direct_channel(&s.bot_id, &s.alice.id).expect("dm");
    let props = json!({"attachments": [{
        "pretext": "Teams wants to link your account",
        "text": "Approve?",
        "actions": [
            {"id": "approve", "name": "Approve", "type": "button",
             "integration": {"url": integration.url, "context": {"action": "approve", "link": "l-1"}}},
            {"name": "No id", "integration": {"url": integration.url}}
        ]
    }]});
    let post: Post = api(&s.mm, &s.bot_token)
        .post(
            "posts",
            None,
            &json!({"channel_id": dm.id, "message": "Link request", "props": props}),
        )
        .await
        .expect("post");
    let generated = &post.props["attachments"][0]["actions"][1]["id"];
    assert_eq!(generated.as_str().map(str::len), Some(26));

    integration.answer_json(json!({
        "update": {"message": "Linked!", "props": {"state": "done"}},
        "ephemeral_text": "You linked your account",
        "goto_location": "https://teams.example.com"
    }));
    let outcome =
        s.mm.click_button(&s.alice.id, &post.id, "approve")
            .await
            .expect("click");
    let request = &integration.requests()[0];
    assert_eq!(request.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&request.body).expect("json");
    let mut keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "channel_id",
            "channel_name",
            "context",
            "data_source",
            "post_id",
            "team_domain",
            "team_id",
            "trigger_id",
            "type",
            "user_id",
            "user_name"
        ]
    );
    assert_eq!(body["user_id"], s.alice.id.as_str());
    assert_eq!(body["user_name"], "alice");
    assert_eq!(body["channel_id"], dm.id.as_str());
    assert_eq!(body["channel_name"], dm.name.as_str());
    assert_eq!(body["team_id"], "");
    assert_eq!(body["post_id"], post.id.as_str());
    assert_eq!(body["type"], "button");
    assert_eq!(body["data_source"], "");
    assert_eq!(body["context"], json!({"action": "approve", "link": "l-1"}));

    let updated = s.mm.post(&post.id).expect("post");
    assert_eq!(updated.message, "Linked!");
    assert_eq!(updated.props["state"], "done");
    assert_eq!(updated.props["from_bot"], "true", "kept through the update");
    assert!(updated.props.get("attachments").is_none());
    assert!(updated.edit_at > 0);
    assert_eq!(
        outcome.updated_post.as_ref().map(|p| &p.message),
        Some(&updated.message)
    );
    assert_eq!(outcome.goto_location, "https://teams.example.com");
    let ephemeral = s.mm.ephemeral_posts_for(&s.alice.id);
    assert_eq!(ephemeral.len(), 1);
    assert_eq!(ephemeral[0].message, "You linked your account");
    assert_eq!(ephemeral[0].user_id, s.bot_id);

    // A menu choice arrives as context.selected_option; clients click through REST too.
    let menu = s
        .mm
        .create_post(
            &s.bot_id,
            NewPost::new(&dm.id, "Pick").props(json!({"attachments": [{"actions": [
                {"id": "pick", "type": "select", "integration": {"url": integration.url, "context": {"k": 1}}}
            ]}]})),
        )
        .expect("menu");
    integration.answer_json(json!({}));
    let answer: Value = api(&s.mm, &s.alice_token)
        .post(
            &format!("posts/{}/actions/pick", menu.id),
            None,
            &json!({"selected_option": "weekly"}),
        )
        .await
        .expect("rest click");
    assert_eq!(answer["status"], "OK");
    let body: Value = serde_json::from_slice(&integration.requests()[1].body).expect("json");
    assert_eq!(body["type"], "select");
    assert_eq!(
        body["context"],
        json!({"k": 1, "selected_option": "weekly"})
    );
    assert_eq!(s.mm.post(&menu.id).expect("menu").message, "Pick");

    integration.answer(500, "text/plain", "no");
    let err =
        s.mm.click_button(&s.alice.id, &post.id, "approve")
            .await
            .expect_err("fails");
    assert!(
        matches!(err, EmulatorError::Rejected { status: 404, .. }),
        "{err:?}"
    );
    let err =
        s.mm.click_button(&s.alice.id, &menu.id, "pick")
            .await
            .expect_err("fails");
    assert!(matches!(err, EmulatorError::ActionFailed { .. }), "{err:?}");
}
