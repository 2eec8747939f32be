//! `GET /api/v4/websocket`: the event stream. Each connection has a sequence that starts with
//! `hello` at 0 and a dead queue of its last 128 events; a client that reconnects with
//! `connection_id` and `sequence_number` gets what it missed, or a fresh `hello` with a new
//! connection id when the queue no longer holds it (websocket.md, "Reconnect / missed events").

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::auth::{Caller, request_token};
use crate::error::AppError;
use crate::ids::new_id;
use crate::server::Shared;
use crate::state::Server;

/// Events a connection keeps for resumption, as Mattermost's dead queue.
const DEAD_QUEUE_SIZE: usize = 128;

/// A server event before it is addressed to a connection.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    name: &'static str,
    data: Map<String, Value>,
    user_id: String,
    channel_id: String,
    team_id: String,
    omit_users: BTreeSet<String>,
    /// Receivers who get `data.mentions` = `["<their id>"]`.
    mentioned: BTreeSet<String>,
}

impl Event {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            name,
            data: Map::new(),
            user_id: String::new(),
            channel_id: String::new(),
            team_id: String::new(),
            omit_users: BTreeSet::new(),
            mentioned: BTreeSet::new(),
        }
    }

    pub(crate) fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.data.insert(key.to_owned(), value.into());
        self
    }

    /// Only the connections of this user.
    pub(crate) fn for_user(mut self, user_id: &str) -> Self {
        self.user_id = user_id.to_owned();
        self
    }

    /// The members of this channel.
    pub(crate) fn in_channel(mut self, channel_id: &str) -> Self {
        self.channel_id = channel_id.to_owned();
        self
    }

    pub(crate) fn omit(mut self, user_id: &str) -> Self {
        self.omit_users.insert(user_id.to_owned());
        self
    }

    pub(crate) fn mentioning(mut self, users: BTreeSet<String>) -> Self {
        self.mentioned = users;
        self
    }

    fn frame(&self, receiver: &str, seq: i64) -> String {
        let mut data = self.data.clone();
        if self.mentioned.contains(receiver) {
            let mentions = serde_json::to_string(&[receiver]).unwrap_or_default();
            data.insert("mentions".into(), Value::String(mentions));
        }
        let omit_users = if self.omit_users.is_empty() {
            Value::Null
        } else {
            Value::Object(
                self.omit_users
                    .iter()
                    .map(|id| (id.clone(), Value::Bool(true)))
                    .collect(),
            )
        };
        json!({
            "event": self.name,
            "data": data,
            "broadcast": {
                "omit_users": omit_users,
                "user_id": self.user_id,
                "channel_id": self.channel_id,
                "team_id": self.team_id,
                "connection_id": "",
                "omit_connection_id": "",
            },
            "seq": seq,
        })
        .to_string()
    }
}

/// What a connection's writer task sends.
#[derive(Debug)]
pub(crate) enum Outbound {
    Frame(String),
    Close,
}

#[derive(Debug)]
struct Session {
    user_id: String,
    next_seq: i64,
    queue: VecDeque<(i64, String)>,
    /// The live socket, if any, with the number that tells reconnections apart.
    link: Option<(u64, mpsc::UnboundedSender<Outbound>)>,
    detached_at: Option<Instant>,
}

impl Session {
    fn push(&mut self, frame_for_seq: impl FnOnce(i64) -> String) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let frame = frame_for_seq(seq);
        if self.queue.len() == DEAD_QUEUE_SIZE {
            self.queue.pop_front();
        }
        self.queue.push_back((seq, frame.clone()));
        if let Some((_, tx)) = &self.link {
            let _ = tx.send(Outbound::Frame(frame));
        }
    }
}

/// Every connection session, live or waiting to be resumed.
#[derive(Debug)]
pub(crate) struct SocketHub {
    sessions: HashMap<String, Session>,
    next_link: u64,
    resume_window: Duration,
    server_version: String,
}

impl SocketHub {
    pub(crate) fn new(resume_window: Duration, server_version: String) -> Self {
        Self {
            sessions: HashMap::new(),
            next_link: 0,
            resume_window,
            server_version,
        }
    }

    fn is_known(&self, connection_id: &str) -> bool {
        self.sessions.contains_key(connection_id)
    }

    /// Attaches a socket for `user_id`: resumes the session `resume` names when its dead queue
    /// still holds the requested sequence, else starts a new session with a `hello`.
    /// Returns the connection id and the link number to detach with.
    fn attach(
        &mut self,
        user_id: &str,
        resume: Option<(String, i64)>,
        tx: mpsc::UnboundedSender<Outbound>,
    ) -> (String, u64) {
        self.prune();
        self.next_link += 1;
        let link = self.next_link;
        if let Some((connection_id, sequence)) = resume
            && let Some(session) = self
                .sessions
                .get_mut(&connection_id)
                .filter(|s| s.user_id == user_id)
        {
            let replay: Option<Vec<String>> = if sequence == session.next_seq {
                Some(Vec::new())
            } else {
                session
                    .queue
                    .iter()
                    .position(|(seq, _)| *seq == sequence)
                    .map(|start| {
                        session
                            .queue
                            .iter()
                            .skip(start)
                            .map(|(_, f)| f.clone())
                            .collect()
                    })
            };
            if let Some(replay) = replay {
                if let Some((_, old)) = session.link.take() {
                    let _ = old.send(Outbound::Close);
                }
                for frame in replay {
                    let _ = tx.send(Outbound::Frame(frame));
                }
                session.link = Some((link, tx));
                session.detached_at = None;
                return (connection_id, link);
            }
            // Events were lost: the client must resync, under a new connection id.
            if let Some((_, old)) = self
                .sessions
                .remove(&connection_id)
                .and_then(|lost| lost.link)
            {
                let _ = old.send(Outbound::Close);
            }
        }
        let connection_id = new_id();
        let mut session = Session {
            user_id: user_id.to_owned(),
            next_seq: 0,
            queue: VecDeque::new(),
            link: Some((link, tx)),
            detached_at: None,
        };
        let hello = Event::new("hello")
            .with("connection_id", connection_id.clone())
            .with("server_version", self.server_version.clone())
            .with("server_hostname", "mm-emulator")
            .for_user(user_id);
        session.push(|seq| hello.frame(user_id, seq));
        self.sessions.insert(connection_id.clone(), session);
        (connection_id, link)
    }

    fn detach(&mut self, connection_id: &str, link: u64) {
        if let Some(session) = self.sessions.get_mut(connection_id)
            && session.link.as_ref().is_some_and(|(l, _)| *l == link)
        {
            session.link = None;
            session.detached_at = Some(Instant::now());
        }
    }

    fn prune(&mut self) {
        let window = self.resume_window;
        self.sessions
            .retain(|_, s| s.detached_at.is_none_or(|at| at.elapsed() < window));
    }

    fn deliver(&mut self, recipients: &BTreeSet<String>, event: &Event) {
        for session in self.sessions.values_mut() {
            if recipients.contains(&session.user_id) {
                let user_id = session.user_id.clone();
                session.push(|seq| event.frame(&user_id, seq));
            }
        }
    }

    /// Closes every live socket; their sessions stay resumable.
    pub(crate) fn drop_connections(&mut self) {
        for session in self.sessions.values_mut() {
            if let Some((_, tx)) = session.link.take() {
                let _ = tx.send(Outbound::Close);
                session.detached_at = Some(Instant::now());
            }
        }
    }

    /// Closes every socket and forgets every session, as a server restart would.
    pub(crate) fn forget_sessions(&mut self) {
        self.drop_connections();
        self.sessions.clear();
    }

    pub(crate) fn live_connections(&self, user_id: &str) -> usize {
        self.sessions
            .values()
            .filter(|s| s.user_id == user_id && s.link.is_some())
            .count()
    }
}

impl Server {
    /// Sends an event to the connections its broadcast addresses: one user, a channel's
    /// members, or everyone.
    pub(crate) fn broadcast(&mut self, event: Event) {
        let mut recipients: BTreeSet<String> = if !event.user_id.is_empty() {
            [event.user_id.clone()].into()
        } else if !event.channel_id.is_empty() {
            self.channel_members(&event.channel_id)
                .into_iter()
                .collect()
        } else {
            self.users.keys().cloned().collect()
        };
        for omitted in &event.omit_users {
            recipients.remove(omitted);
        }
        self.sockets.deliver(&recipients, &event);
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/websocket", get(upgrade))
        .route("/api/v4/websocket/", get(upgrade))
}

#[derive(Debug, Deserialize)]
struct ConnectParams {
    connection_id: Option<String>,
    sequence_number: Option<String>,
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<ConnectParams>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let caller = match request_token(&headers) {
        Some(token) => Some(shared.lock().authenticate(&token)?),
        None => None,
    };
    let resume = match params.connection_id.filter(|id| !id.is_empty()) {
        Some(connection_id) if shared.lock().sockets.is_known(&connection_id) => {
            let sequence = params
                .sequence_number
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s >= 0)
                .ok_or_else(|| AppError::invalid_url_param("sequence_number"))?;
            Some((connection_id, sequence))
        }
        _ => None,
    };
    Ok(ws.on_upgrade(move |socket| serve(shared, socket, caller, resume)))
}

/// One socket: a writer task drains the outbound queue; this task reads client actions.
async fn serve(
    shared: Arc<Shared>,
    socket: WebSocket,
    caller: Option<Caller>,
    resume: Option<(String, i64)>,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let writer = tokio::spawn(async move {
        while let Some(outbound) = rx.recv().await {
            match outbound {
                Outbound::Frame(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Outbound::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
        }
    });
    let mut connection = Connection {
        shared,
        tx,
        resume,
        attached: None,
    };
    if let Some(caller) = caller {
        connection.attach(&caller.user_id, None);
    }
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => connection.handle(text.as_str()),
            Message::Close(_) => break,
            _ => {}
        }
    }
    if let Some((user_id, connection_id, link)) = connection.attached.take() {
        tracing::debug!(%user_id, %connection_id, "websocket closed");
        connection
            .shared
            .lock()
            .sockets
            .detach(&connection_id, link);
    }
    writer.abort();
}

#[derive(Debug)]
struct Connection {
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Outbound>,
    resume: Option<(String, i64)>,
    /// User id, connection id and link number once authenticated.
    attached: Option<(String, String, u64)>,
}

#[derive(Debug, Deserialize)]
struct Action {
    #[serde(default)]
    seq: i64,
    action: String,
    #[serde(default)]
    data: Value,
}

impl Connection {
    fn attach(&mut self, user_id: &str, reply: Option<String>) {
        let mut server = self.shared.lock();
        // The reply goes out before the hello or the replay, under the same lock.
        if let Some(reply) = reply {
            let _ = self.tx.send(Outbound::Frame(reply));
        }
        let (connection_id, link) =
            server
                .sockets
                .attach(user_id, self.resume.take(), self.tx.clone());
        self.attached = Some((user_id.to_owned(), connection_id, link));
    }

    fn reply(&self, reply: Value) {
        let _ = self.tx.send(Outbound::Frame(reply.to_string()));
    }

    fn ok(seq: i64, data: Option<Value>) -> Value {
        let mut reply = json!({"status": "OK", "seq_reply": seq});
        if let (Some(data), Some(map)) = (data, reply.as_object_mut()) {
            map.insert("data".into(), data);
        }
        reply
    }

    fn fail(seq: i64, id: &str, message: &str) -> Value {
        json!({"status": "FAIL", "seq_reply": seq, "error": {"id": id, "message": message}})
    }

    fn handle(&mut self, text: &str) {
        let Ok(action) = serde_json::from_str::<Action>(text) else {
            return;
        };
        let seq = action.seq;
        if action.action == "authentication_challenge" {
            let token = action
                .data
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or("");
            let caller = self.shared.lock().authenticate(token);
            match caller {
                Ok(caller) if self.attached.is_none() => {
                    let reply = Self::ok(seq, None).to_string();
                    self.attach(&caller.user_id, Some(reply));
                }
                Ok(_) => self.reply(Self::ok(seq, None)),
                Err(_) => self.reply(Self::fail(
                    seq,
                    "api.context.session_expired.app_error",
                    "Invalid or expired session, please login again.",
                )),
            }
            return;
        }
        let Some((user_id, _, _)) = self.attached.clone() else {
            self.reply(Self::fail(
                seq,
                "api.web_socket_router.not_authenticated.app_error",
                "Not authenticated. Please log in.",
            ));
            return;
        };
        let reply = match action.action.as_str() {
            "ping" => {
                let server_time = chrono::Utc::now().timestamp_millis();
                let version = self.shared.options.server_version.clone();
                Self::ok(
                    seq,
                    Some(
                        json!({"text": "pong", "version": version, "server_time": server_time, "node_id": ""}),
                    ),
                )
            }
            "user_typing" => {
                let channel_id = action.data.get("channel_id").and_then(Value::as_str);
                let parent_id = action.data.get("parent_id").and_then(Value::as_str);
                let mut server = self.shared.lock();
                match channel_id {
                    Some(channel_id) if server.is_member(channel_id, &user_id) => {
                        server.broadcast(
                            Event::new("typing")
                                .with("user_id", user_id.clone())
                                .with("parent_id", parent_id.unwrap_or("").to_owned())
                                .in_channel(channel_id)
                                .omit(&user_id),
                        );
                        Self::ok(seq, None)
                    }
                    _ => Self::fail(
                        seq,
                        "api.websocket_handler.invalid_param.app_error",
                        "Invalid channel_id parameter.",
                    ),
                }
            }
            "get_statuses" => {
                let mut server = self.shared.lock();
                let ids: Vec<String> = server.users.keys().cloned().collect();
                Self::ok(seq, Some(server.status_map(&ids)))
            }
            "get_statuses_by_ids" => {
                let ids: Vec<String> = action
                    .data
                    .get("user_ids")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                if ids.is_empty() {
                    Self::fail(
                        seq,
                        "api.websocket_handler.invalid_param.app_error",
                        "Invalid user_ids parameter.",
                    )
                } else {
                    let mut server = self.shared.lock();
                    Self::ok(seq, Some(server.status_map(&ids)))
                }
            }
            _ => Self::fail(
                seq,
                "api.web_socket_router.bad_action.app_error",
                "Unknown WebSocket action.",
            ),
        };
        self.reply(reply);
    }
}
