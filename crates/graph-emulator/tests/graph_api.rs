//! Users, chats, messages, presence and `$batch`, through the real graph-rs-sdk client.

mod common;

use common::{CLIENT_ID, json, sdk, tenant};
use graph_emulator::{ChatType, NewMessage, Presence};
use graph_rs_sdk::ODataQuery as _;
use serde_json::{Value, json};

#[tokio::test]
async fn users_by_id_and_upn_and_the_not_found_body() {
    let t = tenant().await;
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    let (status, bob) = json(
        client
            .user(&t.bob.id)
            .get_user()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bob["displayName"], "Bob Jones");
    assert_eq!(bob["accountEnabled"], true);
    assert_eq!(bob["userType"], "Member");
    let (_, by_upn) = json(
        client
            .user("BOB@contoso.com")
            .get_user()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(by_upn["id"], t.bob.id.as_str());
    let (status, body) = json(
        client
            .user("nobody@contoso.com")
            .get_user()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    assert!(body["error"]["innerError"]["request-id"].is_string());

    // No token, or a made-up one: 401 with Graph's error body.
    let (status, body) = json(
        sdk(&t.graph, "made-up")
            .me()
            .get_user()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn chats_with_members_and_messages_newest_first_with_paging() {
    let t = tenant().await;
    let group = t.graph.add_chat(
        ChatType::Group,
        Some("Launch"),
        &[&t.alice.id, &t.bob.id, &t.carol.id],
    );
    let one = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    assert!(one.id.ends_with("@unq.gbl.spaces") && group.id.ends_with("@thread.v2"));
    for i in 0..5 {
        t.graph
            .post_message(
                &group.id,
                &t.alice.id,
                NewMessage::html(&format!("<p>message {i}</p>")),
            )
            .expect("post");
    }
    let token = t.graph.user_token(CLIENT_ID, &t.bob.id);
    let client = sdk(&t.graph, &token);

    let (status, chat) = json(
        client
            .chat(&group.id)
            .get_chat()
            .expand(&["members"])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200, "{chat}");
    assert_eq!(chat["chatType"], "group");
    assert_eq!(chat["topic"], "Launch");
    let members = chat["members"].as_array().expect("members");
    assert_eq!(members.len(), 3);
    assert_eq!(
        members[0]["@odata.type"],
        "#microsoft.graph.aadUserConversationMember"
    );
    assert!(
        members
            .iter()
            .any(|m| m["userId"] == t.carol.id.as_str() && m["displayName"] == "Carol White")
    );
    assert!(
        chat["webUrl"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://teams.microsoft.com/l/chat/")
    );

    let (_, mine) = json(client.me().chats().list_chat().send().await.expect("send")).await;
    assert_eq!(mine["value"].as_array().map(Vec::len), Some(2));

    let (status, page) = json(
        client
            .chat(&group.id)
            .messages()
            .list_messages()
            .top("2")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = page["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|m| m["body"]["content"].as_str())
        .collect();
    assert_eq!(
        texts,
        ["<p>message 4</p>", "<p>message 3</p>"],
        "newest first"
    );
    let next = page["@odata.nextLink"]
        .as_str()
        .expect("next link")
        .to_owned();
    let (_, second) = json(
        reqwest::Client::new()
            .get(&next)
            .bearer_auth(&token)
            .send()
            .await
            .expect("next"),
    )
    .await;
    assert_eq!(second["value"][0]["body"]["content"], "<p>message 2</p>");

    // A user outside the chat cannot read it.
    let outsider = t.graph.user_token(CLIENT_ID, &t.carol.id);
    let (status, _) = json(
        sdk(&t.graph, &outsider)
            .chat(&one.id)
            .get_chat()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn message_shapes_match_graph() {
    let t = tenant().await;
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let message = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::html("<div><at id=\"0\">Bob</at>&nbsp;see <b>this</b></div>")
                .mention(&t.bob.id, "Bob")
                .file(
                    "plan.docx",
                    "https://contoso.sharepoint.com/sites/x/plan.docx",
                ),
        )
        .expect("post");
    let app = t.graph.app_token(CLIENT_ID);
    let client = sdk(&t.graph, &app);
    let (status, got) = json(
        client
            .chat(&chat.id)
            .message(&message.id)
            .get_messages()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], message.id.as_str());
    assert_eq!(got["chatId"], chat.id.as_str());
    assert_eq!(got["messageType"], "message");
    assert_eq!(got["body"]["contentType"], "html");
    assert_eq!(got["from"]["user"]["id"], t.alice.id.as_str());
    assert_eq!(got["from"]["user"]["displayName"], "Alice Smith");
    assert_eq!(got["from"]["user"]["userIdentityType"], "aadUser");
    assert_eq!(
        got["mentions"][0]["mentioned"]["user"]["id"],
        t.bob.id.as_str()
    );
    assert_eq!(got["attachments"][0]["contentType"], "reference");
    assert_eq!(got["attachments"][0]["name"], "plan.docx");
    assert!(got["lastEditedDateTime"].is_null() && got["deletedDateTime"].is_null());
    let created = got["createdDateTime"].as_str().expect("created");
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");

    // The resource of a notification can be fetched as it is, OData keys and all.
    let url = format!(
        "{}/chats('{}')/messages('{}')",
        t.graph.graph_url(),
        chat.id,
        message.id
    );
    let (status, same) = json(
        reqwest::Client::new()
            .get(url)
            .bearer_auth(&app)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(same["id"], message.id.as_str());

    // Bots and system events look like Graph's.
    let bot = t
        .graph
        .post_app_message(
            &chat.id,
            "app-1",
            "Workflows",
            NewMessage::html("<p>automated</p>"),
        )
        .expect("bot");
    let (_, bot) = json(
        client
            .chat(&chat.id)
            .message(&bot.id)
            .get_messages()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(bot["from"]["user"].is_null());
    assert_eq!(bot["from"]["application"]["applicationIdentityType"], "bot");
    let event = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::system_event(
                json!({"@odata.type": "#microsoft.graph.membersAddedEventMessageDetail"}),
            ),
        )
        .expect("event");
    let (_, event) = json(
        client
            .chat(&chat.id)
            .message(&event.id)
            .get_messages()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(event["messageType"], "systemEventMessage");
    assert_eq!(event["body"]["content"], "<systemEventMessage/>");
}

#[tokio::test]
async fn send_edit_react_and_delete_as_a_signed_in_user() {
    let t = tenant().await;
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let alice = t.graph.user_token(CLIENT_ID, &t.alice.id);
    let client = sdk(&t.graph, &alice);
    let body = json!({"body": {"contentType": "html", "content": "<p>Hello from Mattermost</p>"}});
    let (status, sent) = json(
        client
            .chat(&chat.id)
            .messages()
            .create_messages(&body)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_str().expect("id").to_owned();
    assert_eq!(
        t.graph.messages(&chat.id)[0].content,
        "<p>Hello from Mattermost</p>"
    );

    // Application tokens cannot send chat messages.
    let app = t.graph.app_token(CLIENT_ID);
    let (status, _) = json(
        sdk(&t.graph, &app)
            .chat(&chat.id)
            .messages()
            .create_messages(&body)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 400);

    let edit = json!({"body": {"contentType": "html", "content": "<p>edited</p>"}});
    let response = client
        .chat(&chat.id)
        .message(&id)
        .update_messages(&edit)
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status().as_u16(), 204);
    let stored = &t.graph.messages(&chat.id)[0];
    assert_eq!(stored.content, "<p>edited</p>");
    assert!(stored.last_edited.is_some());

    // Only the sender edits; anyone in the chat reacts.
    let bob = t.graph.user_token(CLIENT_ID, &t.bob.id);
    let response = sdk(&t.graph, &bob)
        .chat(&chat.id)
        .message(&id)
        .update_messages(&edit)
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status().as_u16(), 403);
    let react_url = format!(
        "{}/chats/{}/messages/{id}/setReaction",
        t.graph.graph_url(),
        chat.id
    );
    let response = reqwest::Client::new()
        .post(react_url)
        .bearer_auth(&bob)
        .json(&json!({"reactionType": "💘"}))
        .send()
        .await
        .expect("react");
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        t.graph.messages(&chat.id)[0].reactions[0].reaction_type,
        "💘"
    );

    let response = client
        .chat(&chat.id)
        .message(&id)
        .soft_delete()
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 204);
    let (_, deleted) = json(
        client
            .chat(&chat.id)
            .message(&id)
            .get_messages()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(deleted["deletedDateTime"].is_string());
    assert_eq!(deleted["body"]["content"], "");
}

#[tokio::test]
async fn presence_one_and_in_bulk_with_the_650_limit() {
    let t = tenant().await;
    t.graph
        .set_presence(&t.alice.id, Presence::new("Away", "Away"));
    t.graph
        .set_presence(&t.bob.id, Presence::new("Busy", "InAMeeting"));
    let token = t.graph.user_token(CLIENT_ID, &t.carol.id);
    let client = sdk(&t.graph, &token);
    let (status, one) = json(
        client
            .user(&t.bob.id)
            .presence()
            .get_presence()
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (one["availability"].as_str(), one["activity"].as_str()),
        (Some("Busy"), Some("InAMeeting"))
    );

    let ids = json!({"ids": [t.alice.id, t.bob.id, t.carol.id]});
    let (status, bulk) = json(
        client
            .communications()
            .get_presences_by_user_id(&ids)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200);
    let value = bulk["value"].as_array().expect("value");
    assert_eq!(value.len(), 3);
    assert_eq!(value[0]["availability"], "Away");
    assert_eq!(value[2]["availability"], "PresenceUnknown", "never set");

    let too_many: Vec<String> = (0..651)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    let (status, body) = json(
        client
            .communications()
            .get_presences_by_user_id(&json!({"ids": too_many}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        t.graph
            .request_count("POST /v1.0/communications/getPresencesByUserId"),
        2
    );
}

#[tokio::test]
async fn batch_runs_up_to_twenty_requests_and_refuses_more() {
    let t = tenant().await;
    t.graph
        .set_presence(&t.alice.id, Presence::new("Away", "Away"));
    let token = t.graph.user_token(CLIENT_ID, &t.bob.id);
    let client = sdk(&t.graph, &token);
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/me"},
        {"id": "2", "method": "GET", "url": format!("/users/{}/presence", t.alice.id)},
        {"id": "3", "method": "GET", "url": "/users/nobody"},
        {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["3"]},
    ]});
    let (status, body) = json(client.batch(&batch).send().await.expect("batch")).await;
    assert_eq!(status, 200, "{body}");
    let responses = body["responses"].as_array().expect("responses");
    let by_id = |id: &str| {
        responses
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("1")["body"]["id"], t.bob.id.as_str());
    assert_eq!(by_id("2")["body"]["availability"], "Away");
    assert_eq!(by_id("3")["status"], 404);
    assert_eq!(by_id("4")["status"], 424, "depends on a failed request");
    // Each inner request is counted like a direct one.
    assert_eq!(t.graph.request_count("GET /v1.0/me"), 1);

    let requests: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    let (status, _) = json(
        client
            .batch(&json!({"requests": requests}))
            .send()
            .await
            .expect("batch"),
    )
    .await;
    assert_eq!(status, 400);
}
