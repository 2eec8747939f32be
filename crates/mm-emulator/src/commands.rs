//! Custom slash commands: registration (`/api/v4/commands`), execution (the form POST to the
//! command's URL, as slash-commands-and-interactive.md documents it), the command response
//! (in-channel or ephemeral posts, extra responses, `goto_location`), and `response_url` hooks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{AppError, EmulatorError};
use crate::ids::new_id;
use crate::posts::{NewPost, Post};
use crate::server::{Shared, parse_json};
use crate::state::Server;

/// Triggers of Mattermost's built-in commands, which custom commands may not take.
const BUILT_IN_TRIGGERS: [&str; 28] = [
    "away",
    "code",
    "collapse",
    "dnd",
    "echo",
    "expand",
    "groupmsg",
    "header",
    "help",
    "invite",
    "invite_people",
    "join",
    "kick",
    "leave",
    "logout",
    "me",
    "msg",
    "mute",
    "offline",
    "online",
    "open",
    "purpose",
    "remove",
    "rename",
    "search",
    "settings",
    "shortcuts",
    "shrug",
];

/// A `response_url` accepts this many follow-up messages, for this long.
const HOOK_USES: u32 = 5;
const HOOK_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// A custom slash command (Mattermost's `model.Command`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Command {
    pub id: String,
    /// Sent with every request so the integration can check it came from Mattermost.
    pub token: String,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
    pub creator_id: String,
    pub team_id: String,
    pub trigger: String,
    /// `P` (POST) or `G` (GET).
    pub method: String,
    pub username: String,
    pub icon_url: String,
    pub auto_complete: bool,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
    pub display_name: String,
    pub description: String,
    pub url: String,
    pub plugin_id: String,
}

/// A command to register through the scripting API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCommand {
    pub trigger: String,
    pub url: String,
    pub method: String,
    pub display_name: String,
    pub description: String,
    pub auto_complete: bool,
    pub auto_complete_desc: String,
    pub auto_complete_hint: String,
    pub username: String,
    pub icon_url: String,
}

impl NewCommand {
    /// A POST command with autocomplete on.
    pub fn new(trigger: &str, url: &str) -> Self {
        Self {
            trigger: trigger.to_owned(),
            url: url.to_owned(),
            method: "P".into(),
            auto_complete: true,
            ..Self::default()
        }
    }
}

/// What an integration answers (`model.CommandResponse`; snake_case keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandResponse {
    /// `in_channel` or `ephemeral` (the default when empty).
    pub response_type: String,
    pub text: String,
    pub username: String,
    pub channel_id: String,
    pub icon_url: String,
    #[serde(rename = "type")]
    pub post_type: String,
    pub props: Option<Map<String, Value>>,
    pub goto_location: String,
    pub trigger_id: String,
    pub skip_slack_parsing: bool,
    pub attachments: Option<Vec<Value>>,
    pub extra_responses: Option<Vec<CommandResponse>>,
}

/// What running a slash command did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandOutcome {
    pub response: CommandResponse,
    /// Posts made in the channel (`in_channel` responses).
    pub posts: Vec<Post>,
    /// Ephemeral posts shown to the user who ran it.
    pub ephemeral: Vec<Post>,
}

/// A `response_url` and the invocation it answers.
#[derive(Debug, Clone)]
pub(crate) struct CommandHook {
    user_id: String,
    channel_id: String,
    root_id: String,
    uses_left: u32,
    created: Instant,
}

/// Why running a command failed: refused by the server, or the integration failed.
#[derive(Debug)]
pub(crate) enum CommandError {
    App(AppError),
    Failed { trigger: String, message: String },
}

impl From<AppError> for CommandError {
    fn from(err: AppError) -> Self {
        CommandError::App(err)
    }
}

impl From<CommandError> for EmulatorError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::App(err) => err.into(),
            CommandError::Failed { trigger, message } => {
                EmulatorError::CommandFailed { trigger, message }
            }
        }
    }
}

impl From<CommandError> for AppError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::App(err) => err,
            CommandError::Failed { message, .. } => AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api.command.execute_command.failed.app_error",
                message,
            ),
        }
    }
}

fn invalid(field: &str, message: &str) -> AppError {
    AppError::bad_request(
        &format!("model.command.is_valid.{field}.app_error"),
        message,
    )
}

/// `model.Command.IsValid`, for the fields a caller sets.
fn check_command(
    trigger: &str,
    url: &str,
    method: &str,
    display_name: &str,
    description: &str,
) -> Result<(), AppError> {
    if trigger.is_empty()
        || trigger.len() > 128
        || trigger.starts_with('/')
        || trigger.contains(char::is_whitespace)
    {
        return Err(invalid("trigger", "Invalid trigger."));
    }
    let url_ok = url::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if url.len() > 1024 || !url_ok {
        return Err(invalid("url", "Invalid URL."));
    }
    if method != "P" && method != "G" {
        return Err(invalid("method", "Invalid Method."));
    }
    if display_name.chars().count() > 64 {
        return Err(invalid("display_name", "Invalid title."));
    }
    if description.chars().count() > 128 {
        return Err(invalid("description", "Invalid description."));
    }
    Ok(())
}

impl Server {
    /// Built-in triggers and those of the team's other live commands are taken.
    fn check_trigger_free(
        &self,
        team_id: &str,
        trigger: &str,
        except_id: Option<&str>,
    ) -> Result<(), AppError> {
        let taken = BUILT_IN_TRIGGERS.contains(&trigger)
            || self.commands.values().any(|c| {
                c.delete_at == 0
                    && c.team_id == team_id
                    && c.trigger == trigger
                    && Some(c.id.as_str()) != except_id
            });
        if taken {
            return Err(AppError::bad_request(
                "api.command.duplicate_trigger.app_error",
                "This trigger word is already in use. Please choose another word.",
            ));
        }
        Ok(())
    }

    pub(crate) fn register_command(
        &mut self,
        creator_id: &str,
        team_id: &str,
        new: NewCommand,
    ) -> Result<Command, AppError> {
        if team_id != self.team.id {
            return Err(invalid("team_id", "Invalid team ID."));
        }
        let trigger = new.trigger.to_lowercase();
        check_command(
            &trigger,
            &new.url,
            &new.method,
            &new.display_name,
            &new.description,
        )?;
        self.check_trigger_free(team_id, &trigger, None)?;
        let now = self.now_ms();
        let command = Command {
            id: new_id(),
            token: new_id(),
            create_at: now,
            update_at: now,
            creator_id: creator_id.to_owned(),
            team_id: team_id.to_owned(),
            trigger,
            method: new.method,
            username: new.username,
            icon_url: new.icon_url,
            auto_complete: new.auto_complete,
            auto_complete_desc: new.auto_complete_desc,
            auto_complete_hint: new.auto_complete_hint,
            display_name: new.display_name,
            description: new.description,
            url: new.url,
            ..Command::default()
        };
        self.commands.insert(command.id.clone(), command.clone());
        Ok(command)
    }

    /// Everything needed to call the integration, decided under the lock.
    fn prepare_command(
        &mut self,
        caller: &Caller,
        channel_id: &str,
        root_id: &str,
        text: &str,
        site_url: &str,
    ) -> Result<PreparedCall, CommandError> {
        let channel = self.readable_channel(caller, channel_id)?.clone();
        if !caller.admin && !self.is_member(channel_id, &caller.user_id) {
            return Err(AppError::forbidden().into());
        }
        let user = self.user(&caller.user_id)?.clone();
        let line = text.trim_start();
        let (head, args) = line.split_once(' ').unwrap_or((line, ""));
        let trigger = head.strip_prefix('/').unwrap_or(head).to_lowercase();
        let command = self
            .commands
            .values()
            .find(|c| c.delete_at == 0 && c.team_id == self.team.id && c.trigger == trigger)
            .cloned()
            .ok_or_else(|| {
                AppError::not_found(
                    "api.command.execute_command.not_found.app_error",
                    &format!("Command with a trigger of '{trigger}' not found. To send a message beginning with \"/\", try adding an empty space at the beginning of the message."),
                )
            })?;
        let hook_id = new_id();
        self.hooks.insert(
            hook_id.clone(),
            CommandHook {
                user_id: caller.user_id.clone(),
                channel_id: channel_id.to_owned(),
                root_id: root_id.to_owned(),
                uses_left: HOOK_USES,
                created: Instant::now(),
            },
        );
        let now = self.now_ms();
        let trigger_id = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}:{now}:{}",
            new_id(),
            caller.user_id,
            new_id()
        ));
        let form = vec![
            ("channel_id".to_owned(), channel_id.to_owned()),
            ("channel_name".to_owned(), channel.name.clone()),
            ("command".to_owned(), format!("/{trigger}")),
            (
                "response_url".to_owned(),
                format!("{site_url}/hooks/commands/{hook_id}"),
            ),
            ("team_domain".to_owned(), self.team.name.clone()),
            ("team_id".to_owned(), self.team.id.clone()),
            ("text".to_owned(), args.to_owned()),
            ("token".to_owned(), command.token.clone()),
            ("trigger_id".to_owned(), trigger_id),
            ("user_id".to_owned(), user.id.clone()),
            ("user_name".to_owned(), user.username.clone()),
        ];
        Ok(PreparedCall {
            command,
            form,
            channel_id: channel_id.to_owned(),
            root_id: root_id.to_owned(),
        })
    }

    /// Turns a command response into posts, as Mattermost's `HandleCommandResponse` does.
    fn apply_command_response(
        &mut self,
        caller: &Caller,
        channel_id: &str,
        root_id: &str,
        response: &CommandResponse,
    ) -> Result<CommandOutcome, AppError> {
        let mut outcome = CommandOutcome {
            response: response.clone(),
            ..CommandOutcome::default()
        };
        let extra = response.extra_responses.clone().unwrap_or_default();
        for part in std::iter::once(response).chain(extra.iter()) {
            let attachments = part.attachments.clone().unwrap_or_default();
            if part.text.is_empty() && attachments.is_empty() {
                continue;
            }
            let mut props = part.props.clone().unwrap_or_default();
            if !attachments.is_empty() {
                props.insert("attachments".into(), Value::Array(attachments));
            }
            // Another channel only if the user is in it.
            let target = if !part.channel_id.is_empty()
                && self.is_member(&part.channel_id, &caller.user_id)
            {
                part.channel_id.clone()
            } else {
                channel_id.to_owned()
            };
            if part.response_type == "in_channel" {
                let new = NewPost {
                    channel_id: target,
                    message: part.text.clone(),
                    root_id: root_id.to_owned(),
                    file_ids: Vec::new(),
                    props,
                };
                let mut post = self.create_post(caller, new, String::new(), true, None)?;
                if part.post_type.starts_with("custom_") {
                    if let Some(stored) = self.posts.get_mut(&post.id) {
                        stored.post_type = part.post_type.clone();
                    }
                    post.post_type = part.post_type.clone();
                }
                outcome.posts.push(post);
            } else {
                let post = self.send_ephemeral(
                    &caller.user_id,
                    &caller.user_id,
                    &target,
                    root_id,
                    &part.text,
                    props,
                );
                outcome.ephemeral.push(post);
            }
        }
        Ok(outcome)
    }
}

#[derive(Debug)]
struct PreparedCall {
    command: Command,
    form: Vec<(String, String)>,
    channel_id: String,
    root_id: String,
}

/// JSON `null` fields take their defaults, as Go's decoder leaves them.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// Runs `/trigger args` as `caller` in `channel_id`: calls the integration and applies its answer.
pub(crate) async fn run_command(
    shared: &Arc<Shared>,
    caller: &Caller,
    channel_id: &str,
    root_id: &str,
    text: &str,
) -> Result<CommandOutcome, CommandError> {
    let site = shared.site_url.as_str().trim_end_matches('/').to_owned();
    let call = shared
        .lock()
        .prepare_command(caller, channel_id, root_id, text, &site)?;
    let trigger = call.command.trigger.clone();
    let failed = |message: String| CommandError::Failed {
        trigger: trigger.clone(),
        message,
    };
    let request = if call.command.method == "G" {
        shared.http.get(&call.command.url).query(&call.form)
    } else {
        shared.http.post(&call.command.url).form(&call.form)
    };
    let answer = request
        .header("Accept", "application/json")
        .header("Authorization", format!("Token {}", call.command.token))
        .header("User-Agent", "Mattermost-Bot/1.1")
        .timeout(shared.options.integration_timeout)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            tracing::debug!(%err, trigger, "slash command request failed");
            return Err(failed(format!(
                "Command with a trigger of '{trigger}' failed."
            )));
        }
    };
    let status = answer.status();
    let is_json = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = answer
        .bytes()
        .await
        .map_err(|_| failed(format!("Command with a trigger of '{trigger}' failed.")))?;
    if status != reqwest::StatusCode::OK {
        return Err(failed(format!(
            "Command with a trigger of '{trigger}' returned response {}.",
            status.as_u16()
        )));
    }
    let response = if is_json {
        serde_json::from_slice::<Value>(&body)
            .map(without_nulls)
            .and_then(serde_json::from_value::<CommandResponse>)
            .map_err(|_| {
                failed(format!(
                    "Command with a trigger of '{trigger}' returned an invalid response."
                ))
            })?
    } else {
        CommandResponse {
            text: String::from_utf8_lossy(&body).into_owned(),
            ..CommandResponse::default()
        }
    };
    let outcome =
        shared
            .lock()
            .apply_command_response(caller, &call.channel_id, &call.root_id, &response)?;
    Ok(outcome)
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v4/commands", post(create).get(list))
        .route("/api/v4/commands/execute", post(execute))
        .route(
            "/api/v4/commands/{command_id}",
            get(by_id).put(update).delete(delete),
        )
        .route("/hooks/commands/{hook_id}", post(hook))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateBody {
    team_id: String,
    trigger: String,
    method: String,
    url: String,
    display_name: String,
    description: String,
    auto_complete: bool,
    auto_complete_desc: String,
    auto_complete_hint: String,
    username: String,
    icon_url: String,
}

/// Needs `manage_slash_commands`; the emulator grants it to system admins.
async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Command>), AppError> {
    caller.require_admin()?;
    let body: CreateBody = parse_json(&body, "command")?;
    let new = NewCommand {
        trigger: body.trigger,
        url: body.url,
        method: body.method,
        display_name: body.display_name,
        description: body.description,
        auto_complete: body.auto_complete,
        auto_complete_desc: body.auto_complete_desc,
        auto_complete_hint: body.auto_complete_hint,
        username: body.username,
        icon_url: body.icon_url,
    };
    let command = shared
        .lock()
        .register_command(&caller.user_id, &body.team_id, new)?;
    Ok((StatusCode::CREATED, Json(command)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    team_id: String,
    custom_only: bool,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Command>>, AppError> {
    if query.team_id.is_empty() {
        return Err(AppError::invalid_url_param("team_id"));
    }
    if query.custom_only && !caller.admin {
        return Err(AppError::forbidden());
    }
    let server = shared.lock();
    let commands = server
        .commands
        .values()
        .filter(|c| c.delete_at == 0 && c.team_id == query.team_id)
        .filter(|c| caller.admin || c.auto_complete)
        .map(|c| {
            let mut c = c.clone();
            if !caller.admin {
                c.token.clear();
            }
            c
        })
        .collect();
    Ok(Json(commands))
}

async fn by_id(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(command_id): Path<String>,
) -> Result<Json<Command>, AppError> {
    let server = shared.lock();
    server
        .commands
        .get(&command_id)
        .filter(|c| c.delete_at == 0 && (caller.admin || c.creator_id == caller.user_id))
        .cloned()
        .map(Json)
        .ok_or_else(command_not_found)
}

/// `PUT /api/v4/commands/{command_id}`: the body is the whole command (fields left out are
/// emptied, as Mattermost's `UpdateCommand` does) and its `id` must match the path. The id,
/// token, creator, team and creation time stay; the result is validated like a new command.
async fn update(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(command_id): Path<String>,
    body: Bytes,
) -> Result<Json<Command>, AppError> {
    let body: Command = parse_json(&body, "command")?;
    if body.id != command_id {
        return Err(AppError::invalid_body("command"));
    }
    let mut server = shared.lock();
    let old = server
        .commands
        .get(&command_id)
        .filter(|c| c.delete_at == 0)
        .cloned()
        .ok_or_else(command_not_found)?;
    if body.team_id != old.team_id {
        return Err(AppError::bad_request(
            "api.command.team_mismatch.app_error",
            "Unable to update command across teams.",
        ));
    }
    caller.require_admin()?;
    let trigger = body.trigger.to_lowercase();
    check_command(
        &trigger,
        &body.url,
        &body.method,
        &body.display_name,
        &body.description,
    )?;
    server.check_trigger_free(&old.team_id, &trigger, Some(&old.id))?;
    let updated = Command {
        trigger,
        update_at: server.now_ms(),
        id: old.id,
        token: old.token,
        create_at: old.create_at,
        delete_at: old.delete_at,
        creator_id: old.creator_id,
        team_id: old.team_id,
        plugin_id: old.plugin_id,
        ..body
    };
    server.commands.insert(updated.id.clone(), updated.clone());
    Ok(Json(updated))
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(command_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let mut server = shared.lock();
    let now = server.now_ms();
    let command = server
        .commands
        .get_mut(&command_id)
        .filter(|c| c.delete_at == 0)
        .ok_or_else(command_not_found)?;
    if !(caller.admin || command.creator_id == caller.user_id) {
        return Err(AppError::forbidden());
    }
    command.delete_at = now;
    command.update_at = now;
    Ok(Json(json!({"status": "OK"})))
}

fn command_not_found() -> AppError {
    AppError::not_found("api.command.get.app_error", "Unable to get the command.")
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExecuteBody {
    channel_id: String,
    command: String,
    root_id: String,
}

/// What a client sends when a user types a slash command.
async fn execute(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<CommandResponse>, AppError> {
    let body: ExecuteBody = parse_json(&body, "command")?;
    if !body.command.starts_with('/') {
        return Err(AppError::invalid_body("command"));
    }
    let outcome = run_command(
        &shared,
        &caller,
        &body.channel_id,
        &body.root_id,
        &body.command,
    )
    .await?;
    Ok(Json(outcome.response))
}

/// `response_url`: up to five follow-ups within 30 minutes of the command.
async fn hook(
    State(shared): State<Arc<Shared>>,
    Path(hook_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let response = if is_json {
        serde_json::from_slice::<Value>(&body)
            .map(without_nulls)
            .and_then(serde_json::from_value::<CommandResponse>)
            .map_err(|_| AppError::invalid_body("response"))?
    } else {
        CommandResponse {
            text: String::from_utf8_lossy(&body).into_owned(),
            ..CommandResponse::default()
        }
    };
    let mut server = shared.lock();
    let invalid =
        || AppError::bad_request("web.command_webhook.invalid.app_error", "Invalid webhook.");
    let hook = server.hooks.get_mut(&hook_id).ok_or_else(invalid)?;
    if hook.uses_left == 0 || hook.created.elapsed() > HOOK_LIFETIME {
        return Err(invalid());
    }
    hook.uses_left -= 1;
    let hook = hook.clone();
    let caller = server.caller(&hook.user_id)?;
    server.apply_command_response(&caller, &hook.channel_id, &hook.root_id, &response)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain")], "ok").into_response())
}
