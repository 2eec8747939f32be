//! Test helpers: a seeded server, clients for it, and an integration endpoint whose answers a
//! test scripts and whose requests it records.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mattermost_api::prelude::{AuthenticationData, Mattermost};
use mm_emulator::{EmulatorOptions, MattermostEmulator, NewUser, User};

pub struct Seeded {
    pub mm: MattermostEmulator,
    pub admin: User,
    pub admin_token: String,
    pub bot_id: String,
    pub bot_token: String,
    pub alice: User,
    pub alice_token: String,
    pub bob: User,
    pub bob_token: String,
    pub carol: User,
    pub carol_token: String,
}

pub fn fast_options() -> EmulatorOptions {
    EmulatorOptions {
        integration_timeout: Duration::from_secs(3),
        ..EmulatorOptions::default()
    }
}

pub async fn seeded() -> Seeded {
    seeded_with(fast_options()).await
}

pub async fn seeded_with(options: EmulatorOptions) -> Seeded {
    let mm = MattermostEmulator::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), options)
        .await
        .expect("start emulator");
    let user = |name: &str| {
        let user = mm
            .create_user(NewUser::new(name, &format!("{name}@example.com")).name(name, "Test"))
            .expect("user");
        let token = mm.create_token(&user.id, "test").expect("token").token;
        (user, token)
    };
    let (admin, admin_token) = user("admin");
    mm.make_system_admin(&admin.id).expect("admin");
    let admin = mm.user(&admin.id).expect("admin user");
    let bot = mm.create_bot("msteams", "MS Teams").expect("bot");
    mm.make_system_admin(&bot.bot.user_id).expect("bot admin");
    let (alice, alice_token) = user("alice");
    let (bob, bob_token) = user("bob");
    let (carol, carol_token) = user("carol");
    Seeded {
        mm,
        admin,
        admin_token,
        bot_id: bot.bot.user_id,
        bot_token: bot.token,
        alice,
        alice_token,
        bob,
        bob_token,
        carol,
        carol_token,
    }
}

/// The `mattermost_api` client, over plain HTTP to the emulator.
pub fn api(mm: &MattermostEmulator, token: &str) -> Mattermost {
    Mattermost::new(
        mm.site_url().as_str(),
        AuthenticationData::from_access_token(token),
    )
    .expect("client")
}

/// `{site}/api/v4/{path}`.
pub fn url(mm: &MattermostEmulator, path: &str) -> String {
    format!("{}api/v4/{}", mm.site_url(), path.trim_start_matches('/'))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A request the integration received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// A slash-command or button endpoint that answers what the test says.
#[derive(Debug, Clone)]
pub struct Integration {
    pub url: String,
    requests: Arc<Mutex<Vec<Captured>>>,
    answer: Arc<Mutex<Answer>>,
}

#[derive(Debug, Clone)]
struct IntegrationState {
    requests: Arc<Mutex<Vec<Captured>>>,
    answer: Arc<Mutex<Answer>>,
}

async fn record(State(state): State<IntegrationState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    state.requests.lock().expect("lock").push(Captured {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
    });
    let answer = state.answer.lock().expect("lock").clone();
    (
        StatusCode::from_u16(answer.status).expect("status"),
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

impl Integration {
    pub async fn start() -> Self {
        let state = IntegrationState {
            requests: Arc::new(Mutex::new(Vec::new())),
            answer: Arc::new(Mutex::new(Answer {
                status: 200,
                content_type: "application/json".into(),
                body: "{}".into(),
            })),
        };
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            requests: state.requests,
            answer: state.answer,
        }
    }

    pub fn answer_json(&self, body: serde_json::Value) {
        *self.answer.lock().expect("lock") = Answer {
            status: 200,
            content_type: "application/json".into(),
            body: body.to_string(),
        };
    }

    pub fn answer(&self, status: u16, content_type: &str, body: &str) {
        *self.answer.lock().expect("lock") = Answer {
            status,
            content_type: content_type.into(),
            body: body.into(),
        };
    }

    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Form fields in order of appearance.
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// A multipart/form-data body: `(name, file name, content)` parts. Returns the content type
/// and the body.
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "emulator-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
