//! The chat-notification calls against the graph-emulator: subscriptions (with a real webhook
//! that answers the validation handshake and receives notifications), chat messages, chats and
//! their members, catch-up listing, presence in bulk, and throttling.

mod common;

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use common::{CLIENT_ID, Tenant, tenant};
use graph_emulator::{ChatType, Fault, FaultRule, LifecycleEvent as EmulatorLifecycle, NewMessage};
use secrecy::SecretString;
use serde_json::json;
use teams_graph::{
    GraphClient, GraphError, GraphObserver, LifecycleEvent, MAX_PRESENCE_IDS, MessageSender,
    NewSubscription, RawNotification, parse_notification_batch, validation_token,
};

const CLIENT_STATE: &str = "bridge-client-state-1234";

/// Every (endpoint, status) the observer was told of.
type Calls = Arc<Mutex<Vec<(&'static str, u16)>>>;

fn recorder() -> (GraphObserver, Calls) {
    let calls: Calls = Arc::default();
    let sink = calls.clone();
    let observer: GraphObserver = Arc::new(move |endpoint, status| {
        sink.lock().expect("calls").push((endpoint, status));
    });
    (observer, calls)
}

fn calls_to(calls: &Calls, endpoint: &str) -> Vec<u16> {
    calls
        .lock()
        .expect("calls")
        .iter()
        .filter(|(e, _)| *e == endpoint)
        .map(|(_, status)| *status)
        .collect()
}

/// A client with an application token, as the notification worker has.
fn app_client(t: &Tenant) -> (GraphClient, Calls, String) {
    let token = t.graph.app_token(CLIENT_ID);
    let (observer, calls) = recorder();
    let client = GraphClient::new(&t.endpoints, &SecretString::from(token.clone()))
        .expect("graph client")
        .with_observer(observer);
    (client, calls, token)
}

/// One request the webhook received: path with query, and body.
#[derive(Debug, Clone)]
struct Received {
    target: String,
    body: Vec<u8>,
}

/// A webhook on a plain std listener: answers Graph's validation handshake by echoing the token
/// (decoded with [`validation_token`], as the bridge does), and 202 to anything else, which it
/// records.
struct Webhook {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Self { base, received }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits for a notification POSTed to `path` (not a handshake), up to 10 s.
    async fn notification(&self, path: &str, nth: usize) -> Received {
        for _ in 0..500 {
            let found: Vec<Received> = self
                .received
                .lock()
                .expect("log")
                .iter()
                .filter(|r| r.target == path)
                .cloned()
                .collect();
            if let Some(r) = found.get(nth) {
                return r.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no notification #{nth} at {path}");
    }

    fn handshakes(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("log")
            .iter()
            .filter(|r| r.target.contains("validationToken="))
            .map(|r| r.target.split('?').next().unwrap_or_default().to_owned())
            .collect()
    }
}

fn serve(mut stream: TcpStream, log: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let body = data[head_end..].to_vec();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let response = match validation_token(query) {
        Some(token) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{token}",
            token.len()
        ),
        None => "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    log.lock().expect("log").push(Received { target, body });
    let _ = stream.write_all(response.as_bytes());
}

fn only_notification(received: &Received) -> RawNotification {
    let mut batch = parse_notification_batch(&received.body).expect("a notification batch");
    assert_eq!(
        batch.len(),
        1,
        "{}",
        String::from_utf8_lossy(&received.body)
    );
    batch.remove(0).expect("a valid notification")
}

/// Now, whole seconds: what Graph echoes back (milliseconds) compares equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn subscription(hook: &Webhook, expiration: DateTime<Utc>) -> NewSubscription {
    NewSubscription {
        change_type: "created,updated,deleted".into(),
        notification_url: hook.url("/notify"),
        lifecycle_notification_url: Some(hook.url("/lifecycle")),
        resource: "/chats/getAllMessages".into(),
        expiration,
        client_state: CLIENT_STATE.into(),
        include_resource_data: false,
        model: Some("B".into()),
    }
}

#[tokio::test]
async fn subscriptions_are_created_renewed_listed_and_deleted() {
    let t = tenant().await;
    let hook = Webhook::start();
    let (graph, calls, _) = app_client(&t);

    let expiration = now() + TimeDelta::days(2);
    let created = graph
        .create_subscription(&subscription(&hook, expiration))
        .await
        .expect("created");
    assert!(!created.id.is_empty());
    assert_eq!(created.resource, "/chats/getAllMessages?model=B");
    assert_eq!(created.change_type, "created,updated,deleted");
    assert_eq!(created.notification_url, hook.url("/notify"));
    assert_eq!(
        created.lifecycle_notification_url,
        Some(hook.url("/lifecycle"))
    );
    assert_eq!(created.expiration_date_time, expiration);
    assert_eq!(created.client_state.as_deref(), Some(CLIENT_STATE));
    assert!(!format!("{created:?}").contains(CLIENT_STATE));
    // Graph validated both URLs, and keeps what we asked for.
    assert_eq!(hook.handshakes(), ["/notify", "/lifecycle"]);
    let at_graph = t.graph.subscriptions();
    assert_eq!(at_graph.len(), 1);
    assert_eq!(at_graph[0].client_state.as_deref(), Some(CLIENT_STATE));
    assert_eq!(at_graph[0].resource, "/chats/getAllMessages?model=B");
    assert_eq!(calls_to(&calls, "create_subscription"), [201]);

    // A message in any chat is notified; the notification names it, and it can be fetched.
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let posted = t
        .graph
        .post_message(&chat.id, &t.bob.id, NewMessage::html("<p>Hi Alice</p>"))
        .expect("posted");
    let notification = only_notification(&hook.notification("/notify", 0).await);
    let item = &notification.item;
    assert_eq!(item.subscription_id, created.id);
    assert_eq!(item.change_type, "created");
    assert!(item.client_state_matches(CLIENT_STATE));
    assert_eq!(
        item.tenant_id.as_deref(),
        Some(t.graph.tenant_id().as_str())
    );
    let (chat_id, message_id) = item.chat_message_ids().expect("a chat message");
    assert_eq!(
        (chat_id.as_str(), message_id.as_str()),
        (chat.id.as_str(), posted.id.as_str())
    );
    let stored = teams_graph::ChangeNotification::from_stored(&notification.raw).expect("stored");
    assert_eq!(&stored, item);
    let fetched = graph
        .chat_message(&chat_id, &message_id)
        .await
        .expect("message");
    assert_eq!(fetched.body.content, "<p>Hi Alice</p>");

    // Renewing moves the expiry at Graph.
    let later = now() + TimeDelta::days(3) - TimeDelta::minutes(5);
    let renewed = graph
        .renew_subscription(&created.id, later)
        .await
        .expect("renewed");
    assert_eq!(renewed.id, created.id);
    assert_eq!(renewed.expiration_date_time, later);
    assert_eq!(t.graph.subscriptions()[0].expires_at, later);
    assert_eq!(
        graph
            .renew_subscription("no-such-subscription", later)
            .await,
        Err(GraphError::NotFound)
    );

    // Lifecycle events reach the lifecycle URL and parse.
    graph
        .reauthorize_subscription(&created.id)
        .await
        .expect("reauthorized");
    assert_eq!(
        graph.reauthorize_subscription("no-such-subscription").await,
        Err(GraphError::NotFound)
    );
    t.graph
        .trigger_lifecycle(&created.id, EmulatorLifecycle::ReauthorizationRequired)
        .expect("lifecycle");
    let lifecycle = only_notification(&hook.notification("/lifecycle", 0).await).item;
    assert_eq!(lifecycle.subscription_id, created.id);
    assert_eq!(
        lifecycle.lifecycle_event,
        Some(LifecycleEvent::ReauthorizationRequired)
    );
    assert!(lifecycle.client_state_matches(CLIENT_STATE));
    assert_eq!(lifecycle.subscription_expiration_date_time, Some(later));

    let listed = graph.list_subscriptions().await.expect("listed");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].expiration_date_time, later);

    assert_eq!(graph.delete_subscription(&created.id).await, Ok(true));
    assert_eq!(graph.delete_subscription(&created.id).await, Ok(false));
    assert_eq!(graph.delete_subscription("never-existed").await, Ok(false));
    assert!(t.graph.subscriptions().is_empty());
    assert_eq!(graph.list_subscriptions().await, Ok(Vec::new()));
    assert_eq!(calls_to(&calls, "delete_subscription"), [204, 404, 404]);
    assert_eq!(calls_to(&calls, "renew_subscription"), [200, 404]);
    assert_eq!(calls_to(&calls, "reauthorize_subscription"), [204, 404]);
    assert_eq!(calls_to(&calls, "list_subscriptions"), [200, 200]);
}

#[tokio::test]
async fn graph_refuses_subscriptions_it_cannot_keep() {
    let t = tenant().await;
    let hook = Webhook::start();
    let (graph, _, _) = app_client(&t);

    // Over an hour without a lifecycle URL.
    let without_lifecycle = NewSubscription {
        lifecycle_notification_url: None,
        ..subscription(&hook, now() + TimeDelta::days(1))
    };
    match graph.create_subscription(&without_lifecycle).await {
        Err(GraphError::Api {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("lifecycleNotificationUrl"), "{message}"),
        other => panic!("expected a 400, got {other:?}"),
    }
    // A webhook that does not answer the handshake.
    let unreachable = NewSubscription {
        notification_url: "http://127.0.0.1:9/notify".into(),
        ..subscription(&hook, now() + TimeDelta::minutes(30))
    };
    match graph.create_subscription(&unreachable).await {
        Err(GraphError::Api {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("validation"), "{message}"),
        other => panic!("expected a 400, got {other:?}"),
    }
    assert!(t.graph.subscriptions().is_empty());
}

#[tokio::test]
async fn messages_are_fetched_with_mentions_attachments_and_senders() {
    let t = tenant().await;
    let (graph, calls, _) = app_client(&t);
    let chat = t
        .graph
        .add_chat(ChatType::Group, Some("Launch"), &[&t.alice.id, &t.bob.id]);

    let posted = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::html(r#"<p>Hi <at id="0">Bob Jones</at>, see the plan</p>"#)
                .mention(&t.bob.id, "Bob Jones")
                .file(
                    "plan.docx",
                    "https://contoso.sharepoint.com/Shared%20Documents/plan.docx",
                ),
        )
        .expect("posted");
    let message = graph
        .chat_message(&chat.id, &posted.id)
        .await
        .expect("message");
    assert_eq!(message.id, posted.id);
    assert_eq!(message.chat_id, chat.id);
    assert_eq!(message.message_type, "message");
    assert_eq!(
        message.from,
        MessageSender::User {
            id: t.alice.id.clone(),
            display_name: "Alice Smith".into()
        }
    );
    assert_eq!(message.body.content_type, "html");
    assert!(
        message
            .body
            .content
            .contains(r#"<at id="0">Bob Jones</at>"#)
    );
    assert_eq!(message.mentions.len(), 1);
    let mention = &message.mentions[0];
    assert_eq!(mention.id, 0);
    assert_eq!(mention.mention_text, "Bob Jones");
    assert_eq!(mention.user_id.as_deref(), Some(t.bob.id.as_str()));
    assert_eq!(mention.display_name.as_deref(), Some("Bob Jones"));
    assert_eq!(message.attachments.len(), 1);
    let file = &message.attachments[0];
    assert_eq!(file.content_type, "reference");
    assert_eq!(file.name.as_deref(), Some("plan.docx"));
    assert_eq!(
        file.content_url.as_deref(),
        Some("https://contoso.sharepoint.com/Shared%20Documents/plan.docx")
    );
    assert_eq!(
        message.created_date_time,
        Some(posted.created.trunc_subsecs(3))
    );
    assert_eq!(
        message.last_modified_date_time,
        Some(posted.last_modified.trunc_subsecs(3))
    );
    assert_eq!(message.deleted_date_time, None);
    assert!(message.etag.is_some());
    assert_eq!(message.channel_identity, None);

    // A bot's card: the sender is an application, the card JSON is kept as text.
    let card = r#"{"type":"AdaptiveCard","body":[{"type":"TextBlock","text":"Build passed"}]}"#;
    let from_bot = t
        .graph
        .post_app_message(
            &chat.id,
            "358f0194-6b0e-4dd3-af35-c24fe8a9ec87",
            "Build Bot",
            NewMessage {
                attachments: vec![json!({
                    "id": "74d20c7f34aa4a7fb74e2b30004247c5",
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": card,
                    "name": null,
                    "thumbnailUrl": null,
                })],
                ..NewMessage::html(
                    r#"<attachment id="74d20c7f34aa4a7fb74e2b30004247c5"></attachment>"#,
                )
            },
        )
        .expect("bot message");
    let bot = graph
        .chat_message(&chat.id, &from_bot.id)
        .await
        .expect("bot message");
    assert_eq!(
        bot.from,
        MessageSender::Application {
            id: "358f0194-6b0e-4dd3-af35-c24fe8a9ec87".into(),
            display_name: "Build Bot".into()
        }
    );
    assert_eq!(
        bot.attachments[0].content_type,
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(bot.attachments[0].content.as_deref(), Some(card));
    assert!(bot.mentions.is_empty());

    // System events say so; deleted messages lose their sender and body.
    let event = t
        .graph
        .post_message(
            &chat.id,
            &t.alice.id,
            NewMessage::system_event(json!({
                "@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail",
                "chatDisplayName": "Launch"
            })),
        )
        .expect("event");
    let event = graph
        .chat_message(&chat.id, &event.id)
        .await
        .expect("event");
    assert_eq!(event.message_type, "systemEventMessage");
    t.graph
        .delete_message(&chat.id, &posted.id)
        .expect("deleted");
    let deleted = graph
        .chat_message(&chat.id, &posted.id)
        .await
        .expect("deleted message");
    assert!(deleted.deleted_date_time.is_some());
    assert_eq!(deleted.from, MessageSender::Nobody);
    assert!(deleted.mentions.is_empty() && deleted.attachments.is_empty());

    assert_eq!(
        graph.chat_message(&chat.id, "1").await,
        Err(GraphError::NotFound)
    );
    assert_eq!(
        graph.chat_message("19:nope@thread.v2", &posted.id).await,
        Err(GraphError::NotFound)
    );
    assert_eq!(
        calls_to(&calls, "chat_message"),
        [200, 200, 200, 200, 404, 404]
    );
}

#[tokio::test]
async fn a_chat_comes_with_its_members_in_one_request() {
    let t = tenant().await;
    let (graph, calls, _) = app_client(&t);
    let group = t
        .graph
        .add_chat(ChatType::Group, Some("Launch"), &[&t.alice.id, &t.bob.id]);
    t.graph.reset_request_counts();
    let chat = graph.chat_with_members(&group.id).await.expect("chat");
    assert_eq!(chat.id, group.id);
    assert_eq!(chat.chat_type, "group");
    assert_eq!(chat.topic.as_deref(), Some("Launch"));
    let members: BTreeSet<(Option<String>, String, Option<String>)> = chat
        .members
        .iter()
        .map(|m| (m.user_id.clone(), m.display_name.clone(), m.email.clone()))
        .collect();
    assert_eq!(
        members,
        BTreeSet::from([
            (
                Some(t.alice.id.clone()),
                "Alice Smith".to_owned(),
                Some("alice@contoso.com".to_owned())
            ),
            (
                Some(t.bob.id.clone()),
                "Bob Jones".to_owned(),
                Some("bob@contoso.com".to_owned())
            ),
        ])
    );
    // `$expand=members`: one request, the members route untouched.
    assert_eq!(t.graph.request_count("GET /v1.0/chats/{chat_id}"), 1);
    assert_eq!(
        t.graph.request_count("GET /v1.0/chats/{chat_id}/members"),
        0
    );
    assert_eq!(calls_to(&calls, "chat_with_members"), [200]);

    let one_on_one = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let chat = graph.chat_with_members(&one_on_one.id).await.expect("chat");
    assert_eq!(chat.chat_type, "oneOnOne");
    assert_eq!(chat.topic, None);
    assert_eq!(chat.members.len(), 2);
    assert_eq!(
        graph.chat_with_members("19:nope@thread.v2").await,
        Err(GraphError::NotFound)
    );
}

#[tokio::test]
async fn messages_since_are_caught_up_oldest_first_across_pages() {
    let t = tenant().await;
    let (graph, calls, _) = app_client(&t);
    let chat = t
        .graph
        .add_chat(ChatType::Group, None, &[&t.alice.id, &t.bob.id]);
    let post = |text: &str| {
        t.graph
            .post_message(&chat.id, &t.alice.id, NewMessage::text(text))
            .expect("posted")
    };
    let first = post("one");
    let seen = post("two");
    t.graph.advance_clock(TimeDelta::minutes(1));
    let third = post("three");
    let fourth = post("four");
    let fifth = post("five");
    t.graph.advance_clock(TimeDelta::minutes(1));
    t.graph
        .edit_message(&chat.id, &first.id, "<p>one, edited</p>")
        .expect("edited");

    t.graph.reset_request_counts();
    let since = graph
        .chat_messages_since(&chat.id, seen.last_modified, 2)
        .await
        .expect("messages");
    let ids: Vec<&str> = since.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            third.id.as_str(),
            fourth.id.as_str(),
            fifth.id.as_str(),
            first.id.as_str()
        ],
        "changed after `since`, oldest change first"
    );
    assert_eq!(since[3].body.content, "<p>one, edited</p>");
    assert!(since.iter().all(|m| m.chat_id == chat.id));
    // Two a page, the filter kept through `@odata.nextLink`: three pages (the filter's time has
    // milliseconds, as Graph's, so `seen` itself comes back from the emulator's finer clock and is
    // dropped here).
    assert_eq!(
        t.graph.request_count("GET /v1.0/chats/{chat_id}/messages"),
        3
    );
    assert_eq!(calls_to(&calls, "chat_messages_since"), [200, 200, 200]);

    // A page Graph throttles is asked for again, not the whole listing.
    t.graph.reset_request_counts();
    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/chats/",
            Fault::Throttle {
                retry_after: Some("0.1".into()),
            },
        )
        .method("GET")
        .every(2)
        .times(1),
    );
    let again = graph
        .chat_messages_since(&chat.id, seen.last_modified, 2)
        .await
        .expect("messages despite a 429");
    assert_eq!(again.len(), 4);
    assert_eq!(
        t.graph.request_count("GET /v1.0/chats/{chat_id}/messages"),
        4,
        "page one, page two throttled, page two again, page three"
    );
    t.graph.clear_faults();

    let nothing = graph
        .chat_messages_since(&chat.id, Utc::now() + TimeDelta::hours(1), 50)
        .await
        .expect("messages");
    assert!(nothing.is_empty());
    assert_eq!(
        graph
            .chat_messages_since("19:nope@thread.v2", seen.last_modified, 0)
            .await,
        Err(GraphError::NotFound)
    );
}

#[tokio::test]
async fn chats_of_a_user_are_listed() {
    let t = tenant().await;
    let (graph, calls, _) = app_client(&t);
    let carol = t.graph.add_user(graph_emulator::NewUser::new(
        "Carol White",
        "carol@contoso.com",
    ));
    let with_bob = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let group = t.graph.add_chat(
        ChatType::Group,
        Some("Launch"),
        &[&t.alice.id, &t.bob.id, &carol.id],
    );
    let _without_alice = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.bob.id, &carol.id]);

    let expected = BTreeSet::from([with_bob.id.clone(), group.id.clone()]);
    let listed: BTreeSet<String> = graph
        .user_chats(&t.alice.id)
        .await
        .expect("chats")
        .into_iter()
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(calls_to(&calls, "user_chats"), [200]);

    let alice = GraphClient::new(
        &t.endpoints,
        &SecretString::from(t.graph.user_token(CLIENT_ID, &t.alice.id)),
    )
    .expect("graph client");
    let mine: BTreeSet<String> = alice
        .my_chats()
        .await
        .expect("my chats")
        .into_iter()
        .collect();
    assert_eq!(mine, expected);
    assert_eq!(
        graph.user_chats("nobody@contoso.com").await,
        Err(GraphError::NotFound)
    );
}

#[tokio::test]
async fn presence_is_read_in_calls_of_at_most_650_ids() {
    let t = tenant().await;
    let (graph, calls, _) = app_client(&t);
    t.graph.set_presence(
        &t.alice.id,
        graph_emulator::Presence::new("Busy", "InAMeeting"),
    );
    t.graph
        .set_presence(&t.bob.id, graph_emulator::Presence::new("Away", "Away"));
    const ROUTE: &str = "POST /v1.0/communications/getPresencesByUserId";

    // Alice first, Bob last: 700 ids, so Bob is only in the second call.
    let mut ids = vec![t.alice.id.clone()];
    ids.extend((0..698).map(|i| format!("00000000-0000-4000-8000-{i:012}")));
    ids.push(t.bob.id.clone());
    assert_eq!(ids.len(), 700);
    let presences = graph.presences_by_user_ids(&ids).await.expect("presences");
    assert_eq!(
        t.graph.request_count(ROUTE),
        2,
        "{:?}",
        t.graph.request_counts()
    );
    assert_eq!(calls_to(&calls, "presences_by_user_ids"), [200, 200]);
    let found: Vec<(&str, &str, &str)> = presences
        .iter()
        .map(|p| (p.id.as_str(), p.availability.as_str(), p.activity.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (t.alice.id.as_str(), "Busy", "InAMeeting"),
            (t.bob.id.as_str(), "Away", "Away")
        ]
    );

    // Exactly the limit is one call; nothing is none.
    ids.truncate(MAX_PRESENCE_IDS);
    graph.presences_by_user_ids(&ids).await.expect("presences");
    assert_eq!(t.graph.request_count(ROUTE), 3);
    assert_eq!(graph.presences_by_user_ids(&[]).await, Ok(Vec::new()));
    assert_eq!(t.graph.request_count(ROUTE), 3);
}

#[tokio::test]
async fn throttling_and_outages_say_when_to_come_back() {
    let t = tenant().await;
    let (graph, calls, token) = app_client(&t);
    let chat = t
        .graph
        .add_chat(ChatType::OneOnOne, None, &[&t.alice.id, &t.bob.id]);
    let posted = t
        .graph
        .post_message(&chat.id, &t.bob.id, NewMessage::text("hi"))
        .expect("posted");

    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/chats",
            Fault::Throttle {
                retry_after: Some("7".into()),
            },
        )
        .times(1),
    );
    let throttled = graph.chat_message(&chat.id, &posted.id).await;
    assert_eq!(
        throttled,
        Err(GraphError::Throttled {
            retry_after: Some(Duration::from_secs(7))
        })
    );
    assert_eq!(calls_to(&calls, "chat_message"), [429]);

    // A listing retries a throttled page (after Retry-After), and gives up after four retries.
    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/subscriptions",
            Fault::Throttle {
                retry_after: Some("0.2".into()),
            },
        )
        .method("GET")
        .times(1),
    );
    let started = std::time::Instant::now();
    assert!(graph.list_subscriptions().await.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(200));
    t.graph.inject_fault(
        FaultRule::new(
            "/v1.0/subscriptions",
            Fault::Throttle {
                retry_after: Some("0.05".into()),
            },
        )
        .method("GET")
        .times(5),
    );
    assert_eq!(
        graph.list_subscriptions().await,
        Err(GraphError::Throttled {
            retry_after: Some(Duration::from_millis(50))
        })
    );

    t.graph
        .inject_fault(FaultRule::new("/v1.0/communications", Fault::Unavailable).times(1));
    assert_eq!(
        graph
            .presences_by_user_ids(std::slice::from_ref(&t.alice.id))
            .await,
        Err(GraphError::Throttled { retry_after: None })
    );
    assert_eq!(calls_to(&calls, "presences_by_user_ids"), [503]);

    t.graph
        .inject_fault(FaultRule::new("/v1.0/chats", Fault::DropConnection).times(1));
    let dropped = graph
        .chat_with_members(&chat.id)
        .await
        .expect_err("dropped");
    assert!(matches!(dropped, GraphError::Transport(_)), "{dropped:?}");
    assert_eq!(calls_to(&calls, "chat_with_members"), [0]);

    // The faults were one-offs: the same calls work again.
    assert!(graph.chat_message(&chat.id, &posted.id).await.is_ok());
    assert!(graph.chat_with_members(&chat.id).await.is_ok());
    assert_eq!(calls_to(&calls, "chat_message"), [429, 200]);

    // The token shows up nowhere.
    for text in [
        format!("{graph:?}"),
        format!("{throttled:?}"),
        format!("{dropped:?} {dropped}"),
    ] {
        assert!(!text.contains(&token), "{text}");
    }
}
