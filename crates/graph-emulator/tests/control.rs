//! The control API scripts the same tenant as the in-process handle: what the sandbox and scripts
//! use when the emulator runs as a process.

mod common;

use common::{CLIENT_ID, Receiver, Validation, tenant};
use serde_json::{Value, json};

#[tokio::test]
async fn scripting_over_http_posts_messages_sets_presence_and_triggers_lifecycle() {
    let t = tenant().await;
    let http = reqwest::Client::new();
    let control = t.graph.base_url().join("_emulator/").expect("url");
    let post = |path: &str, body: Value| {
        let url = control.join(path).expect("url");
        let http = http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .expect("control call")
        }
    };

    let created: Value = post(
        "users",
        json!({"displayName": "Dan Brown", "mail": "dan@contoso.com"}),
    )
    .await
    .json()
    .await
    .expect("json");
    let dan = created["id"].as_str().expect("id").to_owned();
    let chat: Value = post(
        "chats",
        json!({"chatType": "oneOnOne", "members": [t.alice.id, dan]}),
    )
    .await
    .json()
    .await
    .expect("json");
    let chat_id = chat["id"].as_str().expect("chat id").to_owned();
    assert_eq!(chat["members"].as_array().map(Vec::len), Some(2));

    let receiver = Receiver::start(Validation::Echo).await;
    let app = t.graph.app_token(CLIENT_ID);
    let subscription = json!({
        "changeType": "created",
        "notificationUrl": receiver.url,
        "lifecycleNotificationUrl": receiver.url,
        "resource": "/chats/getAllMessages",
        "expirationDateTime": (chrono::Utc::now() + chrono::TimeDelta::hours(2)).to_rfc3339(),
        "clientState": "cs",
    });
    let created: Value = http
        .post(format!("{}/subscriptions", t.graph.graph_url()))
        .bearer_auth(&app)
        .json(&subscription)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let subscription_id = created["id"].as_str().expect("id").to_owned();

    let message = post(
        &format!("chats/{chat_id}/messages"),
        json!({"from": dan, "html": "<p>Hi <at id=\"0\">Alice</at></p>", "mentions": [{"userId": t.alice.id, "text": "Alice"}]}),
    )
    .await;
    assert_eq!(message.status().as_u16(), 201);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0]["value"][0]["changeType"], "created");
    let stored = t.graph.messages(&chat_id);
    assert_eq!(stored[0].mentions[0].user_id, t.alice.id);

    let response = post(
        &format!("presence/{dan}"),
        json!({"availability": "Away", "activity": "Away"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    let response = post(
        &format!("subscriptions/{subscription_id}/lifecycle"),
        json!({"lifecycleEvent": "subscriptionRemoved"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 202);
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1]["value"][0]["lifecycleEvent"], "subscriptionRemoved");

    let bad = post(
        "subscriptions/nope/lifecycle",
        json!({"lifecycleEvent": "missed"}),
    )
    .await;
    assert_eq!(bad.status().as_u16(), 404);
    let bad = post("chats", json!({"chatType": "meeting", "members": []})).await;
    assert_eq!(bad.status().as_u16(), 400);
    let summary: Value = http
        .get(control.clone())
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json");
    assert_eq!(summary["users"].as_array().map(Vec::len), Some(4));
    let deliveries: Value = http
        .get(control.join("deliveries").expect("url"))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    assert!(
        deliveries["value"]
            .as_array()
            .is_some_and(|d| d.iter().any(|r| r["kind"] == "lifecycle"))
    );
}
