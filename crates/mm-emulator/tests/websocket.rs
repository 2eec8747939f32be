//! The WebSocket: authentication, `hello`, post and reaction events with string-encoded payloads,
//! per-connection sequences, and resumption from the dead queue.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use common::{api, seeded};
use futures_util::{SinkExt, StreamExt};
use mattermost_api::prelude::{WebsocketEvent, WebsocketHandler};
use mm_emulator::{MattermostEmulator, NewPost, Post};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Forwards `mattermost_api` events to the test.
struct Forward(mpsc::UnboundedSender<WebsocketEvent>);

impl WebsocketHandler for Forward {
    fn callback<'life0, 'async_trait>(
        &'life0 self,
        message: WebsocketEvent,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let _ = self.0.send(message);
        Box::pin(async {})
    }
}

async fn connect(mm: &MattermostEmulator, query: &str, token: Option<&str>) -> Socket {
    let mut request = format!("{}{query}", mm.websocket_url())
        .into_client_request()
        .expect("request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    socket
}

/// The next text frame as JSON.
async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("json");
        }
    }
}

async fn nothing_more(socket: &mut Socket) {
    let more = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
    if let Ok(Some(Ok(Message::Text(text)))) = more {
        panic!("unexpected frame {text}");
    }
}

fn post_of(frame: &Value) -> Post {
    serde_json::from_str(frame["data"]["post"].as_str().expect("post is a string")).expect("post")
}

async fn wait_disconnected(mm: &MattermostEmulator, user_id: &str) {
    for _ in 0..100 {
        if mm.websocket_connections(user_id) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the server did not notice the disconnect");
}

#[tokio::test]
async fn mattermost_api_client_gets_hello_and_posted_events() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.bot_id, &s.alice.id).expect("dm");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut client = api(&s.mm, &s.bot_token);
    tokio::spawn(async move {
        let _ = client.connect_to_websocket(Forward(tx)).await;
    });
    let hello = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("hello in time")
        .expect("hello");
    assert_eq!(hello.seq, 0);
    assert_eq!(
        serde_json::to_value(&hello.event).expect("name"),
        json!("hello")
    );
    assert_eq!(hello.data["connection_id"].as_str().map(str::len), Some(26));
    assert!(hello.data["server_version"].is_string());
    assert_eq!(hello.broadcast.user_id.as_deref(), Some(s.bot_id.as_str()));

    let post =
        s.mm.create_post(&s.alice.id, NewPost::new(&dm.id, "hello bot"))
            .expect("post");
    let posted = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("posted in time")
        .expect("posted");
    assert_eq!(posted.seq, 1);
    assert_eq!(
        serde_json::to_value(&posted.event).expect("name"),
        json!("posted")
    );
    assert_eq!(posted.broadcast.channel_id, dm.id);
    let data = &posted.data;
    let sent: Post = serde_json::from_str(data["post"].as_str().expect("string")).expect("post");
    assert_eq!(sent, post);
    assert_eq!(data["channel_type"], "D");
    assert_eq!(data["channel_name"], dm.name.as_str());
    assert_eq!(data["channel_display_name"], "@alice");
    assert_eq!(data["sender_name"], "@alice");
    assert_eq!(data["team_id"], "");
    assert_eq!(data["set_online"], true);
    let mentions: Vec<String> =
        serde_json::from_str(data["mentions"].as_str().expect("mentions string")).expect("ids");
    assert_eq!(mentions, vec![s.bot_id.clone()]);
}

#[tokio::test]
async fn authentication_challenge_is_answered_before_hello() {
    let s = seeded().await;
    let mut socket = connect(&s.mm, "", None).await;
    socket
        .send(Message::Text(
            json!({"seq": 1, "action": "user_typing", "data": {}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let refused = next_frame(&mut socket).await;
    assert_eq!(refused["status"], "FAIL");
    assert_eq!(refused["seq_reply"], 1);
    assert_eq!(
        refused["error"]["id"],
        "api.web_socket_router.not_authenticated.app_error"
    );
    socket
        .send(Message::Text(
            json!({"seq": 2, "action": "authentication_challenge", "data": {"token": "wrong"}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let failed = next_frame(&mut socket).await;
    assert_eq!(failed["status"], "FAIL");
    assert_eq!(failed["seq_reply"], 2);
    socket
        .send(Message::Text(
            json!({"seq": 3, "action": "authentication_challenge", "data": {"token": s.alice_token}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    assert_eq!(
        next_frame(&mut socket).await,
        json!({"status": "OK", "seq_reply": 3})
    );
    let hello = next_frame(&mut socket).await;
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["seq"], 0);
    assert_eq!(hello["broadcast"]["user_id"], s.alice.id.as_str());
    socket
        .send(Message::Text(
            json!({"seq": 4, "action": "get_statuses_by_ids", "data": {"user_ids": [s.bob.id]}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    let statuses = next_frame(&mut socket).await;
    assert_eq!(statuses["seq_reply"], 4);
    assert_eq!(statuses["data"][s.bob.id.as_str()], "offline");
}

#[tokio::test]
async fn events_reach_channel_members_only_with_increasing_seq() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    let mut alice = connect(&s.mm, "", Some(&s.alice_token)).await;
    let mut carol = connect(&s.mm, "", Some(&s.carol_token)).await;
    assert_eq!(next_frame(&mut alice).await["event"], "hello");
    assert_eq!(next_frame(&mut carol).await["event"], "hello");

    let bob = api(&s.mm, &s.bob_token);
    let post: Post = bob
        .post(
            "posts",
            None,
            &json!({"channel_id": dm.id, "message": "hi @alice"}),
        )
        .await
        .expect("post");
    let _: Value = bob
        .query(
            "PUT",
            &format!("posts/{}/patch", post.id),
            None,
            Some(r#"{"message":"hi again"}"#),
        )
        .await
        .expect("patch");
    let _: Value = api(&s.mm, &s.alice_token)
        .post(
            "reactions",
            None,
            &json!({"user_id": s.alice.id, "post_id": post.id, "emoji_name": "tada"}),
        )
        .await
        .expect("react");
    let _: Value = api(&s.mm, &s.alice_token)
        .query(
            "DELETE",
            &format!("users/{}/posts/{}/reactions/tada", s.alice.id, post.id),
            None,
            None,
        )
        .await
        .expect("unreact");
    let _: Value = bob
        .query("DELETE", &format!("posts/{}", post.id), None, None)
        .await
        .expect("delete");

    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(next_frame(&mut alice).await);
    }
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        names,
        [
            "posted",
            "post_edited",
            "reaction_added",
            "reaction_removed",
            "post_deleted"
        ]
    );
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(post_of(&events[1]).message, "hi again");
    assert!(post_of(&events[1]).edit_at > 0);
    let reaction: Value =
        serde_json::from_str(events[2]["data"]["reaction"].as_str().expect("string"))
            .expect("reaction");
    assert_eq!(reaction["emoji_name"], "tada");
    assert_eq!(reaction["user_id"], s.alice.id.as_str());
    assert!(post_of(&events[4]).delete_at > 0);
    for event in &events {
        assert_eq!(event["broadcast"]["channel_id"], dm.id.as_str());
        assert_eq!(event["broadcast"]["omit_users"], Value::Null);
    }
    nothing_more(&mut carol).await;
}

#[tokio::test]
async fn reconnecting_with_the_sequence_replays_missed_events_in_order() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    let mut socket = connect(&s.mm, "", Some(&s.alice_token)).await;
    let hello = next_frame(&mut socket).await;
    let connection_id = hello["data"]["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, "seen"))
        .expect("post");
    let seen = next_frame(&mut socket).await;
    assert_eq!(seen["seq"], 1);
    drop(socket);
    wait_disconnected(&s.mm, &s.alice.id).await;

    for i in 0..3 {
        s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, &format!("missed {i}")))
            .expect("post");
    }
    let mut socket = connect(
        &s.mm,
        &format!("?connection_id={connection_id}&sequence_number=2"),
        Some(&s.alice_token),
    )
    .await;
    for (i, seq) in (2..5).enumerate() {
        let frame = next_frame(&mut socket).await;
        assert_eq!(frame["event"], "posted");
        assert_eq!(frame["seq"], seq);
        assert_eq!(post_of(&frame).message, format!("missed {i}"));
    }
    nothing_more(&mut socket).await;
    s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, "live"))
        .expect("post");
    let live = next_frame(&mut socket).await;
    assert_eq!(live["seq"], 5);
    assert_eq!(post_of(&live).message, "live");

    // Nothing missed: the stream simply continues, without a hello.
    drop(socket);
    wait_disconnected(&s.mm, &s.alice.id).await;
    let mut socket = connect(
        &s.mm,
        &format!("?connection_id={connection_id}&sequence_number=6"),
        Some(&s.alice_token),
    )
    .await;
    nothing_more(&mut socket).await;
    s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, "next"))
        .expect("post");
    assert_eq!(next_frame(&mut socket).await["seq"], 6);
}

#[tokio::test]
async fn a_sequence_older_than_the_dead_queue_gets_a_fresh_hello() {
    let s = seeded().await;
    let dm = s.mm.direct_channel(&s.alice.id, &s.bob.id).expect("dm");
    let mut socket = connect(&s.mm, "", None).await;
    socket
        .send(Message::Text(
            json!({"seq": 1, "action": "authentication_challenge", "data": {"token": s.alice_token}})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    assert_eq!(next_frame(&mut socket).await["seq_reply"], 1);
    let hello = next_frame(&mut socket).await;
    let first_id = hello["data"]["connection_id"]
        .as_str()
        .expect("id")
        .to_owned();
    drop(socket);
    wait_disconnected(&s.mm, &s.alice.id).await;
    for i in 0..130 {
        s.mm.create_post(&s.bob.id, NewPost::new(&dm.id, &format!("flood {i}")))
            .expect("post");
    }
    let mut socket = connect(
        &s.mm,
        &format!("?connection_id={first_id}&sequence_number=1"),
        Some(&s.alice_token),
    )
    .await;
    let fresh = next_frame(&mut socket).await;
    assert_eq!(fresh["event"], "hello");
    assert_eq!(fresh["seq"], 0);
    let second_id = fresh["data"]["connection_id"].as_str().expect("id");
    assert_ne!(second_id, first_id);
    nothing_more(&mut socket).await;

    // An unknown connection id (a restart) also starts over.
    s.mm.forget_websocket_sessions();
    wait_disconnected(&s.mm, &s.alice.id).await;
    let mut socket = connect(
        &s.mm,
        &format!("?connection_id={second_id}&sequence_number=1"),
        Some(&s.alice_token),
    )
    .await;
    let hello = next_frame(&mut socket).await;
    assert_eq!(hello["event"], "hello");
    assert_ne!(hello["data"]["connection_id"], second_id);
}
