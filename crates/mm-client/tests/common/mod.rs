//! A Mattermost emulator with a cast (an admin, a bot that is a system admin as the service's
//! bot is, Alice and Bob), clients for it, and an integration endpoint on axum that parses what
//! Mattermost POSTs with this crate's types and records it.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use mm_client::{
    ActionRequest, ActionResponse, CommandResponse, MattermostClient, SlashCommandRequest,
};
use mm_emulator::{MattermostEmulator, NewUser, User};
use secrecy::SecretString;

pub struct World {
    pub mm: MattermostEmulator,
    pub admin: User,
    pub admin_token: SecretString,
    pub bot_id: String,
    pub bot_token: SecretString,
    pub alice: User,
    pub alice_token: SecretString,
    pub bob: User,
}

pub async fn world() -> World {
    let mm = MattermostEmulator::start().await.expect("emulator");
    let admin = mm
        .create_user(NewUser::new("admin", "admin@example.com"))
        .expect("admin");
    mm.make_system_admin(&admin.id).expect("make admin");
    let admin_token = mm.create_token(&admin.id, "tests").expect("token").token;
    let bot = mm.create_bot("msteams", "MS Teams").expect("bot");
    mm.make_system_admin(&bot.bot.user_id).expect("bot admin");
    let alice = mm
        .create_user(NewUser::new("alice", "alice@example.com").name("Alice", "Smith"))
        .expect("alice");
    let alice_token = mm.create_token(&alice.id, "tests").expect("token").token;
    let bob = mm
        .create_user(NewUser::new("bob", "bob@example.com"))
        .expect("bob");
    World {
        admin: mm.user(&admin.id).expect("admin"),
        admin_token: SecretString::from(admin_token),
        bot_id: bot.bot.user_id,
        bot_token: SecretString::from(bot.token),
        alice,
        alice_token: SecretString::from(alice_token),
        bob,
        mm,
    }
}

impl World {
    pub fn client(&self, token: &SecretString) -> MattermostClient {
        MattermostClient::new(&self.mm.site_url(), token).expect("client")
    }

    pub fn bot(&self) -> MattermostClient {
        self.client(&self.bot_token)
    }

    pub fn admin(&self) -> MattermostClient {
        self.client(&self.admin_token)
    }
}

/// A slash command as the handler received it, with the `Authorization` header beside it.
#[derive(Debug, Clone)]
pub struct ReceivedCommand {
    pub request: SlashCommandRequest,
    pub authorization: String,
}

#[derive(Debug, Clone, Default)]
struct Recorded {
    commands: Arc<Mutex<Vec<ReceivedCommand>>>,
    actions: Arc<Mutex<Vec<ActionRequest>>>,
    command_answer: Arc<Mutex<CommandResponse>>,
    action_answer: Arc<Mutex<ActionResponse>>,
}

/// The service side: `POST /command` (form) and `POST /action` (JSON) on a free port.
#[derive(Debug, Clone)]
pub struct Integration {
    pub command_url: String,
    pub action_url: String,
    recorded: Recorded,
}

async fn command(
    State(recorded): State<Recorded>,
    headers: HeaderMap,
    Form(request): Form<SlashCommandRequest>,
) -> Json<CommandResponse> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    recorded
        .commands
        .lock()
        .expect("lock")
        .push(ReceivedCommand {
            request,
            authorization,
        });
    Json(recorded.command_answer.lock().expect("lock").clone())
}

async fn action(
    State(recorded): State<Recorded>,
    Json(request): Json<ActionRequest>,
) -> Json<ActionResponse> {
    recorded.actions.lock().expect("lock").push(request);
    Json(recorded.action_answer.lock().expect("lock").clone())
}

impl Integration {
    pub async fn start() -> Self {
        let recorded = Recorded::default();
        let app = Router::new()
            .route("/command", post(command))
            .route("/action", post(action))
            .with_state(recorded.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            command_url: format!("http://{addr}/command"),
            action_url: format!("http://{addr}/action"),
            recorded,
        }
    }

    pub fn answer_commands(&self, answer: CommandResponse) {
        *self.recorded.command_answer.lock().expect("lock") = answer;
    }

    pub fn answer_actions(&self, answer: ActionResponse) {
        *self.recorded.action_answer.lock().expect("lock") = answer;
    }

    pub fn commands(&self) -> Vec<ReceivedCommand> {
        self.recorded.commands.lock().expect("lock").clone()
    }

    pub fn actions(&self) -> Vec<ActionRequest> {
        self.recorded.actions.lock().expect("lock").clone()
    }
}
