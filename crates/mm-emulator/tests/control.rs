//! The control API under `/_emulator/`, as the sandbox and scripts use it.

mod common;

use common::{Integration, http, url};
use mm_emulator::MattermostEmulator;
use serde_json::{Value, json};

async fn call(method: reqwest::Method, address: String, body: Option<Value>) -> (u16, Value) {
    let mut request = http().request(method, address);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn the_control_api_scripts_users_posts_commands_and_faults() {
    let mm = MattermostEmulator::start().await.expect("start");
    let control = mm.control_url();
    let post = |path: &str, body: Value| {
        call(
            reqwest::Method::POST,
            format!("{control}{path}"),
            Some(body),
        )
    };

    let (status, admin) = post(
        "users",
        json!({"username": "admin", "email": "admin@example.com", "admin": true, "token": true}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(admin["user"]["roles"], "system_admin system_user");
    let admin_token = admin["token"].as_str().expect("token").to_owned();
    let (_, alice) = post(
        "users",
        json!({"username": "alice", "email": "alice@example.com"}),
    )
    .await;
    let alice_id = alice["user"]["id"].as_str().expect("id").to_owned();
    let (status, bot) = post(
        "bots",
        json!({"username": "msteams", "display_name": "MS Teams"}),
    )
    .await;
    assert_eq!(status, 201);
    let bot_id = bot["bot"]["user_id"].as_str().expect("id").to_owned();
    let bot_token = bot["token"].as_str().expect("token").to_owned();
    let (status, token) = post("tokens", json!({"user_id": alice_id, "description": "cli"})).await;
    assert_eq!(status, 201);
    assert_eq!(token["user_id"], alice_id.as_str());

    let me = http()
        .get(url(&mm, "users/me"))
        .bearer_auth(&bot_token)
        .send()
        .await
        .expect("send");
    assert_eq!(me.status(), 200);

    let (_, dm) = post("channels/direct", json!({"user_ids": [bot_id, alice_id]})).await;
    let dm_id = dm["id"].as_str().expect("id").to_owned();
    let (status, _) = post(
        "posts",
        json!({"user_id": bot_id, "channel_id": dm_id, "message": "Welcome"}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, received) = call(
        reqwest::Method::GET,
        format!("{control}users/{alice_id}/direct-messages"),
        None,
    )
    .await;
    assert_eq!(received[0]["message"], "Welcome");
    assert_eq!(received[0]["props"]["from_bot"], "true");
    let (_, posts) = call(
        reqwest::Method::GET,
        format!("{control}channels/{dm_id}/posts"),
        None,
    )
    .await;
    assert_eq!(posts.as_array().map(Vec::len), Some(1));

    let integration = Integration::start().await;
    integration.answer_json(json!({"text": "Connect here"}));
    let (status, _) = post(
        "commands",
        json!({"creator_id": admin["user"]["id"], "trigger": "msteams", "url": integration.url}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, outcome) = post(
        "slash-commands",
        json!({"user_id": alice_id, "channel_id": dm_id, "command": "/msteams connect"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(outcome["ephemeral"][0]["message"], "Connect here");
    let (_, ephemeral) = call(
        reqwest::Method::GET,
        format!("{control}users/{alice_id}/ephemeral"),
        None,
    )
    .await;
    assert_eq!(ephemeral[0]["message"], "Connect here");
    integration.answer(503, "text/plain", "down");
    let (status, failed) = post(
        "slash-commands",
        json!({"user_id": alice_id, "channel_id": dm_id, "command": "/msteams connect"}),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(
        failed["error"],
        "Command with a trigger of 'msteams' returned response 503."
    );

    let (status, set) = call(
        reqwest::Method::PUT,
        format!("{control}users/{alice_id}/status"),
        Some(json!({"status": "dnd", "dnd_end_time": 1_900_000_000})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(set["dnd_end_time"], 1_900_000_000);
    assert_eq!(set["manual"], true, "set as by hand");
    let (status, read) = call(
        reqwest::Method::GET,
        format!("{control}users/{alice_id}/status"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["status"], "dnd");
    assert_eq!(read["manual"], true);
    assert_eq!(read["user_id"], alice_id.as_str());

    let custom = format!("{control}users/{alice_id}/custom-status");
    let (status, none) = call(reqwest::Method::GET, custom.clone(), None).await;
    assert_eq!((status, none), (200, Value::Null));
    let (status, _) = call(
        reqwest::Method::PUT,
        custom.clone(),
        Some(json!({"emoji": "calendar", "text": "In a meeting", "expires_at": "2999-01-01T10:00:00Z"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, read) = call(reqwest::Method::GET, custom.clone(), None).await;
    assert_eq!(read["text"], "In a meeting");
    assert_eq!(read["duration"], "date_and_time");
    assert_eq!(read["expires_at"], "2999-01-01T10:00:00Z");
    let (status, refused) = call(
        reqwest::Method::PUT,
        custom.clone(),
        Some(json!({"emoji": "calendar", "expires_at": "2000-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let (status, _) = call(reqwest::Method::DELETE, custom.clone(), None).await;
    assert_eq!(status, 200);
    let (_, none) = call(reqwest::Method::GET, custom, None).await;
    assert_eq!(none, Value::Null);

    let (status, _) = post(
        "faults",
        json!({"route": "GET /api/v4/users/me", "fault": "rate_limit", "limit": 5, "times": 1}),
    )
    .await;
    assert_eq!(status, 201);
    let limited = http()
        .get(url(&mm, "users/me"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("send");
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["X-Ratelimit-Limit"], "5");
    let (_, counters) = call(reqwest::Method::GET, format!("{control}counters"), None).await;
    assert_eq!(counters["GET /api/v4/users/me"], 2);
    let (status, _) = call(reqwest::Method::DELETE, format!("{control}faults"), None).await;
    assert_eq!(status, 200);

    let (_, summary) = call(reqwest::Method::GET, control.clone(), None).await;
    assert_eq!(summary["users"].as_array().map(Vec::len), Some(3));
    mm.shutdown().await;
}
