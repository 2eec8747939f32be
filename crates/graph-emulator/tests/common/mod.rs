//! Test helpers: a tenant with an app, and a webhook receiver whose answers a test scripts.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use graph_emulator::{AppRegistration, EmulatorOptions, GraphEmulator, NewUser, User};
use serde_json::Value;

pub const CLIENT_ID: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
pub const CLIENT_SECRET: &str = "emulator-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/oauth/redirect";

pub struct Tenant {
    pub graph: GraphEmulator,
    pub alice: User,
    pub bob: User,
    pub carol: User,
}

/// Fast timeouts and retries, so failure paths take milliseconds.
pub fn fast_options() -> EmulatorOptions {
    EmulatorOptions {
        validation_timeout: Duration::from_millis(500),
        delivery_timeout: Duration::from_millis(300),
        retry_delays: vec![
            Duration::from_millis(50),
            Duration::from_millis(100),
            Duration::from_millis(150),
        ],
        ..EmulatorOptions::default()
    }
}

pub async fn tenant() -> Tenant {
    let graph = GraphEmulator::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), fast_options())
        .await
        .expect("start emulator");
    graph.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        display_name: "Bridge".into(),
    });
    let alice = graph.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
    let bob = graph.add_user(NewUser::new("Bob Jones", "bob@contoso.com"));
    let carol = graph.add_user(NewUser::new("Carol White", "carol@contoso.com"));
    Tenant {
        graph,
        alice,
        bob,
        carol,
    }
}

/// What the receiver answers to a validation request.
#[derive(Debug, Clone)]
pub enum Validation {
    Echo,
    Status(u16),
    WrongBody,
    Delay(Duration),
}

#[derive(Debug, Default)]
struct ReceiverState {
    validation: Option<Validation>,
    /// Answers to notifications, in order; then 202.
    answers: VecDeque<(u16, Duration)>,
    notifications: Vec<Value>,
    validations: Vec<String>,
}

/// A webhook endpoint that records what Graph sends.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start(validation: Validation) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            validation: Some(validation),
            ..ReceiverState::default()
        }));
        let app = Router::new()
            .route("/hook", post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    /// Answers the next notifications with these statuses and delays.
    pub fn answer(&self, answers: &[(u16, Duration)]) {
        self.state
            .lock()
            .expect("lock")
            .answers
            .extend(answers.iter().copied());
    }

    pub fn notifications(&self) -> Vec<Value> {
        self.state.lock().expect("lock").notifications.clone()
    }

    pub fn validations(&self) -> Vec<String> {
        self.state.lock().expect("lock").validations.clone()
    }

    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..200 {
            let got = self.notifications();
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.notifications()
    }
}

async fn hook(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: String,
) -> Response {
    if let Some(token) = q.get("validationToken") {
        let validation = {
            let mut s = state.lock().expect("lock");
            s.validations.push(token.clone());
            s.validation.clone().unwrap_or(Validation::Echo)
        };
        return match validation {
            Validation::Echo => (
                StatusCode::OK,
                [("content-type", "text/plain")],
                token.clone(),
            )
                .into_response(),
            Validation::Status(code) => StatusCode::from_u16(code)
                .unwrap_or(StatusCode::BAD_REQUEST)
                .into_response(),
            Validation::WrongBody => (StatusCode::OK, "not the token").into_response(),
            Validation::Delay(delay) => {
                tokio::time::sleep(delay).await;
                (StatusCode::OK, token.clone()).into_response()
            }
        };
    }
    let (status, delay) = {
        let mut s = state.lock().expect("lock");
        if let Ok(json) = serde_json::from_str::<Value>(&body) {
            s.notifications.push(json);
        }
        s.answers.pop_front().unwrap_or((202, Duration::ZERO))
    };
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status)
        .unwrap_or(StatusCode::ACCEPTED)
        .into_response()
}

/// A graph-rs-sdk client pointed at the emulator.
pub fn sdk(graph: &GraphEmulator, token: &str) -> graph_rs_sdk::GraphClient {
    let configuration = graph_rs_sdk::GraphClientConfiguration::new()
        .access_token(token)
        .https_only(false);
    let mut client = graph_rs_sdk::GraphClient::from(configuration);
    client.use_test_endpoint(&graph.graph_url());
    client
}

pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}
