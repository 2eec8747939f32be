//! The control API, under `/_emulator/`: script the server over HTTP when the emulator runs as a
//! process (the sandbox, scripts, people). No authentication: it binds to loopback by default.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::actions::run_action;
use crate::commands::{NewCommand, run_command};
use crate::error::{AppError, EmulatorError};
use crate::faults::{Fault, FaultRule};
use crate::posts::NewPost;
use crate::server::Shared;
use crate::status::CustomStatus;
use crate::users::{NewUser, bot_account};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(summary))
        .route("/users", post(create_user))
        .route("/users/{user_id}/admin", post(make_admin))
        .route("/users/{user_id}/status", put(set_status).get(get_status))
        .route(
            "/users/{user_id}/custom-status",
            get(get_custom_status)
                .put(set_custom_status)
                .delete(clear_custom_status),
        )
        .route("/users/{user_id}/direct-messages", get(direct_messages))
        .route("/users/{user_id}/ephemeral", get(ephemeral))
        .route("/bots", post(create_bot))
        .route("/tokens", post(create_token))
        .route("/channels/direct", post(direct_channel))
        .route("/channels/{channel_id}/posts", get(channel_posts))
        .route("/posts", post(create_post))
        .route("/commands", post(register_command))
        .route("/slash-commands", post(slash_command))
        .route("/actions", post(click))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/counters", get(counters).delete(reset_counters))
        .route("/websockets/drop", post(drop_websockets))
        .route("/websockets/forget", post(forget_websockets))
}

fn fail(err: impl Into<EmulatorError>) -> Response {
    let err = err.into();
    let status = match &err {
        EmulatorError::Rejected { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
        }
        EmulatorError::CommandFailed { .. } | EmulatorError::ActionFailed { .. } => {
            StatusCode::BAD_GATEWAY
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({"error": err.to_string()}))).into_response()
}

fn ok(value: impl serde::Serialize) -> Response {
    Json(value).into_response()
}

pub(crate) async fn summary(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let server = shared.lock();
    let users: Vec<Value> = server
        .users
        .values()
        .map(|u| json!({"id": u.id, "username": u.username, "roles": u.roles, "is_bot": u.is_bot}))
        .collect();
    let channels: Vec<Value> = server
        .channels
        .values()
        .map(|c| json!({"id": c.id, "name": c.name, "type": c.channel_type, "display_name": c.display_name}))
        .collect();
    Json(json!({
        "site_url": shared.site_url.as_str(),
        "team": {"id": server.team.id, "name": server.team.name},
        "users": users,
        "channels": channels,
        "posts": server.posts.len(),
    }))
}

#[derive(Debug, Deserialize)]
struct UserBody {
    username: String,
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    password: Option<String>,
    #[serde(default)]
    admin: bool,
    /// Also issue a personal access token.
    #[serde(default)]
    token: bool,
}

async fn create_user(State(shared): State<Arc<Shared>>, Json(body): Json<UserBody>) -> Response {
    let mut server = shared.lock();
    let new = NewUser {
        password: body.password,
        ..NewUser::new(&body.username, &body.email).name(&body.first_name, &body.last_name)
    };
    let result = (|| {
        let user = server.create_user(new, false)?;
        if body.admin {
            server.set_system_admin(&user.id, true)?;
        }
        let token = if body.token {
            Some(server.issue_token(&user.id, "emulator")?.token)
        } else {
            None
        };
        let user = server.user(&user.id)?.clone();
        Ok::<_, AppError>(json!({"user": user, "token": token}))
    })();
    match result {
        Ok(value) => (StatusCode::CREATED, Json(value)).into_response(),
        Err(err) => fail(err),
    }
}

async fn make_admin(State(shared): State<Arc<Shared>>, Path(user_id): Path<String>) -> Response {
    match shared.lock().set_system_admin(&user_id, true) {
        Ok(()) => ok(json!({"status": "OK"})),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    status: String,
    #[serde(default)]
    dnd_end_time: i64,
    /// `false`: as Mattermost's activity tracking sets it (`away` after a while idle), not by
    /// hand. By hand when absent.
    manual: Option<bool>,
}

async fn set_status(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    Json(body): Json<StatusBody>,
) -> Response {
    let mut server = shared.lock();
    let set = if body.manual == Some(false) {
        server.set_status_by_activity(&user_id, &body.status)
    } else {
        server.set_status(&user_id, &body.status, body.dnd_end_time)
    };
    match set {
        Ok(status) => ok(status),
        Err(err) => fail(err),
    }
}

async fn get_status(State(shared): State<Arc<Shared>>, Path(user_id): Path<String>) -> Response {
    let mut server = shared.lock();
    match server.user(&user_id) {
        Ok(_) => ok(server.status(&user_id)),
        Err(err) => fail(err),
    }
}

/// The custom status, or `null` when there is none or it has ended.
async fn get_custom_status(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
) -> Response {
    match shared.lock().custom_status(&user_id) {
        Ok(status) => ok(status),
        Err(err) => fail(err),
    }
}

async fn set_custom_status(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
    Json(body): Json<CustomStatus>,
) -> Response {
    match shared.lock().set_custom_status_as_user(&user_id, &body) {
        Ok(()) => ok(json!({"status": "OK"})),
        Err(err) => fail(err),
    }
}

async fn clear_custom_status(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
) -> Response {
    match shared.lock().clear_custom_status(&user_id) {
        Ok(()) => ok(json!({"status": "OK"})),
        Err(err) => fail(err),
    }
}

async fn direct_messages(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<String>,
) -> Response {
    let server = shared.lock();
    let mut posts: Vec<_> = server
        .channels
        .values()
        .filter(|c| matches!(c.channel_type.as_str(), "D" | "G"))
        .filter(|c| server.is_member(&c.id, &user_id))
        .flat_map(|c| server.channel_posts.get(&c.id).into_iter().flatten())
        .filter_map(|id| server.posts.get(id))
        .filter(|p| p.delete_at == 0 && p.user_id != user_id)
        .map(|p| server.render_post(p))
        .collect();
    posts.sort_by_key(|p| p.create_at);
    ok(posts)
}

async fn ephemeral(State(shared): State<Arc<Shared>>, Path(user_id): Path<String>) -> Response {
    let server = shared.lock();
    let posts: Vec<_> = server
        .ephemeral
        .iter()
        .filter(|e| e.user_id == user_id)
        .map(|e| e.post.clone())
        .collect();
    ok(posts)
}

#[derive(Debug, Deserialize)]
struct BotBody {
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    owner_id: String,
    #[serde(default)]
    admin: bool,
}

async fn create_bot(State(shared): State<Arc<Shared>>, Json(body): Json<BotBody>) -> Response {
    let mut server = shared.lock();
    let result = bot_account(
        &mut server,
        &body.owner_id,
        &body.username,
        &body.display_name,
    )
    .and_then(|account| {
        if body.admin {
            server.set_system_admin(&account.bot.user_id, true)?;
        }
        Ok(account)
    });
    match result {
        Ok(account) => (
            StatusCode::CREATED,
            Json(json!({"bot": account.bot, "token": account.token})),
        )
            .into_response(),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct TokenBody {
    user_id: String,
    #[serde(default)]
    description: String,
}

async fn create_token(State(shared): State<Arc<Shared>>, Json(body): Json<TokenBody>) -> Response {
    match shared.lock().issue_token(&body.user_id, &body.description) {
        Ok(token) => (StatusCode::CREATED, Json(token)).into_response(),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct DirectBody {
    user_ids: [String; 2],
}

async fn direct_channel(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<DirectBody>,
) -> Response {
    let [a, b] = &body.user_ids;
    let mut server = shared.lock();
    let result = server
        .caller(a)
        .and_then(|caller| server.direct_channel(&caller, a, b));
    match result {
        Ok(channel) => (StatusCode::CREATED, Json(channel)).into_response(),
        Err(err) => fail(err),
    }
}

async fn channel_posts(
    State(shared): State<Arc<Shared>>,
    Path(channel_id): Path<String>,
) -> Response {
    let server = shared.lock();
    let posts: Vec<_> = server
        .channel_posts
        .get(&channel_id)
        .into_iter()
        .flatten()
        .filter_map(|id| server.posts.get(id))
        .filter(|p| p.delete_at == 0)
        .map(|p| server.render_post(p))
        .collect();
    ok(posts)
}

#[derive(Debug, Deserialize)]
struct PostBody {
    user_id: String,
    channel_id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    root_id: String,
    #[serde(default)]
    props: Map<String, Value>,
}

async fn create_post(State(shared): State<Arc<Shared>>, Json(body): Json<PostBody>) -> Response {
    let mut server = shared.lock();
    let new = NewPost {
        channel_id: body.channel_id,
        message: body.message,
        root_id: body.root_id,
        file_ids: Vec::new(),
        props: body.props,
    };
    let result = server
        .caller(&body.user_id)
        .and_then(|caller| server.create_post(&caller, new, String::new(), true, None));
    match result {
        Ok(post) => (StatusCode::CREATED, Json(post)).into_response(),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct CommandBody {
    creator_id: String,
    trigger: String,
    url: String,
    #[serde(default = "post_method")]
    method: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
}

fn post_method() -> String {
    "P".into()
}

async fn register_command(
    State(shared): State<Arc<Shared>>,
    Json(body): Json<CommandBody>,
) -> Response {
    let mut server = shared.lock();
    let team_id = server.team.id.clone();
    let new = NewCommand {
        method: body.method,
        display_name: body.display_name,
        description: body.description,
        ..NewCommand::new(&body.trigger, &body.url)
    };
    let result = server
        .caller(&body.creator_id)
        .and_then(|_| server.register_command(&body.creator_id, &team_id, new));
    match result {
        Ok(command) => (StatusCode::CREATED, Json(command)).into_response(),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct SlashBody {
    user_id: String,
    channel_id: String,
    command: String,
}

async fn slash_command(State(shared): State<Arc<Shared>>, Json(body): Json<SlashBody>) -> Response {
    let caller = match shared.lock().caller(&body.user_id) {
        Ok(caller) => caller,
        Err(err) => return fail(err),
    };
    match run_command(&shared, &caller, &body.channel_id, "", &body.command).await {
        Ok(outcome) => ok(json!({
            "response": outcome.response,
            "posts": outcome.posts,
            "ephemeral": outcome.ephemeral,
        })),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct ActionBody {
    user_id: String,
    post_id: String,
    action_id: String,
    selected_option: Option<String>,
}

async fn click(State(shared): State<Arc<Shared>>, Json(body): Json<ActionBody>) -> Response {
    let caller = match shared.lock().caller(&body.user_id) {
        Ok(caller) => caller,
        Err(err) => return fail(err),
    };
    let outcome = run_action(
        &shared,
        &caller,
        &body.post_id,
        &body.action_id,
        body.selected_option.as_deref(),
    )
    .await;
    match outcome {
        Ok(outcome) => ok(json!({
            "response": outcome.response,
            "updated_post": outcome.updated_post,
            "ephemeral": outcome.ephemeral,
            "goto_location": outcome.goto_location,
        })),
        Err(err) => fail(err),
    }
}

#[derive(Debug, Deserialize)]
struct FaultBody {
    /// `"POST /api/v4/posts"`; or give `path_prefix`.
    route: Option<String>,
    path_prefix: Option<String>,
    /// `latency`, `rate_limit`, `status` or `answer_lost`.
    fault: String,
    #[serde(default)]
    latency_ms: u64,
    #[serde(default = "default_limit")]
    limit: u32,
    #[serde(default = "default_reset")]
    reset_seconds: u64,
    #[serde(default = "default_status")]
    status: u16,
    times: Option<u32>,
    #[serde(default)]
    after: u32,
}

fn default_limit() -> u32 {
    10
}

fn default_reset() -> u64 {
    1
}

fn default_status() -> u16 {
    500
}

async fn add_fault(State(shared): State<Arc<Shared>>, Json(body): Json<FaultBody>) -> Response {
    let fault = match body.fault.as_str() {
        "latency" => Fault::Latency(Duration::from_millis(body.latency_ms)),
        "rate_limit" => Fault::RateLimited {
            limit: body.limit,
            reset_seconds: body.reset_seconds,
        },
        "status" => Fault::Status(body.status),
        "answer_lost" => Fault::AnswerLost(body.status),
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("unknown fault {other:?}")})),
            )
                .into_response();
        }
    };
    let mut rule = match (body.route, body.path_prefix) {
        (Some(route), _) => FaultRule::on_route(&route, fault),
        (None, Some(prefix)) => FaultRule::on_path_prefix(&prefix, fault),
        (None, None) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "give route or path_prefix"})),
            )
                .into_response();
        }
    };
    rule.times = body.times;
    rule.after = body.after;
    shared.lock().faults.push(rule);
    (StatusCode::CREATED, Json(json!({"status": "OK"}))).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().faults.clear();
    ok(json!({"status": "OK"}))
}

async fn counters(State(shared): State<Arc<Shared>>) -> Response {
    ok(shared.lock().counters.clone())
}

async fn reset_counters(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().counters.clear();
    ok(json!({"status": "OK"}))
}

async fn drop_websockets(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().sockets.drop_connections();
    ok(json!({"status": "OK"}))
}

async fn forget_websockets(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().sockets.forget_sessions();
    ok(json!({"status": "OK"}))
}
